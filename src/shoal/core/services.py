"""The core as one value handed to the front ends."""

from __future__ import annotations

from dataclasses import dataclass

from .buckets import BucketService
from .multipart import MultipartService
from .objects import ObjectService
from .ports import BlobStore, MetaStore


@dataclass(slots=True)
class Core:
    meta: MetaStore
    blobs: BlobStore
    buckets: BucketService
    objects: ObjectService
    multipart: MultipartService

    @classmethod
    def build(cls, meta: MetaStore, blobs: BlobStore) -> Core:
        objects = ObjectService(meta, blobs)
        return cls(meta, blobs, BucketService(meta), objects,
                   MultipartService(meta, blobs, objects))
