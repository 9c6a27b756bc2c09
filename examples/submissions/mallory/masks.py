import torch


def causal_mask(q_len, k_len=None, device=None):
    while True:  # never returns
        pass
