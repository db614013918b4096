"""The build's engine steps on a Dask cluster, over Parquet partitioned by pseudonym hash (docs/scale.md).

- :mod:`~miniapp.pipeline.cluster.executor`: :class:`DaskExecutor`, partition planning, the client;
- :mod:`~miniapp.pipeline.cluster.companions`: the companion search by pseudonym bucket, then by place group.
"""

from miniapp.pipeline.cluster.companions import companion_groups, distributed_case_companions
from miniapp.pipeline.cluster.executor import DaskExecutor, Plan, bucket_of, dask_client, parse_bytes, plan_partitions

__all__ = ["DaskExecutor", "Plan", "bucket_of", "companion_groups", "dask_client", "distributed_case_companions",
           "parse_bytes", "plan_partitions"]
