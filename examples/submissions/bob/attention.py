from __future__ import annotations

from refcopy_attention import *  # every correct function
from refmistake_attention import sdpa_no_scale as scaled_dot_product_attention  # the one mistake
