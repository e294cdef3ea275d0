"""Recorded datasets: shard format, reading, validation, import and collection."""

from worldsim.data.dataset import Dataset, read_meta, write_meta
from worldsim.data.shards import Episode, ShardReader, write_shard
from worldsim.data.validate import validate_dataset

__all__ = ["Dataset", "Episode", "ShardReader", "read_meta", "validate_dataset", "write_meta", "write_shard"]
