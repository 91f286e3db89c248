"""Where ttp keeps its state: the data directory and the database URL, from options and environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = "./ttp-data"
PRIVATE_UMASK = 0o077  # what ttp writes (database, Parquet, reports, releases) is for its own user only


def make_data_dir(path: Path) -> None:
    """Create the data directory (and its parents) and make it its owner's only (0700): it holds password
    hashes and the true counts behind suppressed cells."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


@dataclass(frozen=True)
class Settings:
    """The resolved data directory and database URL of one invocation."""

    data_dir: Path
    database_url: str

    @property
    def keystore_path(self) -> Path:
        return self.data_dir / "keystore.ttpkeys"

    @property
    def checkpoint_log(self) -> Path:
        return self.data_dir / "audit" / "checkpoints.log"

    def batch_dir(self, batch_id: str) -> Path:
        return self.data_dir / "batches" / batch_id

    def job_dir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def release_dir(self, release_id: str) -> Path:
        return self.data_dir / "releases" / release_id


def resolve(data_dir: str | os.PathLike | None = None, database_url: str | None = None) -> Settings:
    """Settings from an explicit value, else `TTP_DATA_DIR` / `TTP_DATABASE_URL`, else the defaults."""
    directory = Path(data_dir or os.environ.get("TTP_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()
    url = database_url or os.environ.get("TTP_DATABASE_URL") or f"sqlite:///{directory / 'ttp.db'}"
    return Settings(data_dir=directory, database_url=url)
