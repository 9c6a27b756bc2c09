"""Batch grading on a Dask distributed cluster (`autograder batch --cluster ...`).

Each group of submissions becomes one task running the same `grade_group_job` as the local pool; a Dask
worker process keeps its warm sandbox worker and reference cache between tasks. Results come
back to the client, which stays the only gradebook writer.
"""
from __future__ import annotations

from collections.abc import Iterator

from autograder.jobs import GradingSetup, grade_group_job, job_entries


def connect(address: str):
    """`local` starts a LocalCluster on this machine (one single-threaded worker per core)."""
    from dask.distributed import Client, LocalCluster

    if address == "local":
        cluster = LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None)
        return Client(cluster), cluster
    return Client(address), None


def grade_on_cluster(address: str, groups: list[list], seed: int,
                     setup: GradingSetup) -> Iterator[tuple]:
    """Yield (item, status, payload) as the cluster finishes groups of submissions.

    Each task carries its submissions' sources and the grading.yaml text (no paths), so a
    worker in another directory or on another machine grades what a local run grades.
    """
    from dask.distributed import as_completed

    client, cluster = connect(address)
    try:
        futures = {}
        for index, group in enumerate(groups):
            future = client.submit(grade_group_job, job_entries(group), seed, setup,
                                   key=f"grade-group-{index}", pure=False)
            futures[future.key] = (future, group)
        for future in as_completed([f for f, _ in futures.values()]):
            group = futures[future.key][1]
            try:
                outcomes = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost cluster worker
                outcomes = [("error", f"cluster task failed: {type(exc).__name__}: {exc}")] * len(group)
            for item, (status, payload) in zip(group, outcomes, strict=False):
                yield item, status, payload
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
