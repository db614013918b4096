"""The build pipeline: feeds -> engine (cached per ping part) -> snapshot tables -> a published snapshot.

:func:`run_build` runs every step and publishes; where the engine runs is an executor's choice (this
process and a pool of worker processes, :class:`LocalExecutor`, or a Dask cluster,
:class:`DaskExecutor`), and the snapshot's content is the same.

- :mod:`~miniapp.pipeline.run`: :func:`run_build`, the orchestration and the summary;
- :mod:`~miniapp.pipeline.params`: :class:`BuildParams`;
- :mod:`~miniapp.pipeline.inputs`: the feed folder, listed once, and the reference feeds;
- :mod:`~miniapp.pipeline.context`: :class:`BuildContext`, what a step reads, and the steps' result types;
- :mod:`~miniapp.pipeline.cache`: per ping part stays and manifests, the grades history, retention;
- :mod:`~miniapp.pipeline.steps`: the engine steps, snapshot tables out;
- :mod:`~miniapp.pipeline.local`: the local executor and its process pool;
- :mod:`~miniapp.pipeline.replay`: :func:`run_daily_builds`, past days built from the data known on each;
- :mod:`~miniapp.pipeline.cluster`: the same steps on Dask (docs/scale.md).
"""

from miniapp.pipeline.cluster import DaskExecutor, dask_client, parse_bytes
from miniapp.pipeline.context import BuildContext, CompanionResult, ForecastResult, GradesResult
from miniapp.pipeline.inputs import FeedFolder, list_feed_folder
from miniapp.pipeline.local import LocalExecutor
from miniapp.pipeline.params import BuildParams
from miniapp.pipeline.replay import run_daily_builds
from miniapp.pipeline.run import format_summary, run_build, write_and_publish
from miniapp.pipeline.steps import DEFAULT_STEPS

__all__ = ["DEFAULT_STEPS", "BuildContext", "BuildParams", "CompanionResult", "DaskExecutor", "FeedFolder",
           "ForecastResult", "GradesResult", "LocalExecutor", "dask_client", "format_summary", "list_feed_folder",
           "parse_bytes", "run_build", "run_daily_builds", "write_and_publish"]
