"""An analysis as data: dive's JSON export (same keys) with wharfie's additions beside them."""

from __future__ import annotations

import math
import tarfile

from wharfie.analysis.analyze import Analysis, LayerReport

_TYPEFLAGS = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
              "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
              "fifo": tarfile.FIFOTYPE, "whiteout": tarfile.REGTYPE, "opaque": tarfile.REGTYPE}


def to_dict(a: Analysis, *, layer: int | None = None) -> dict:
    """dive's ``layer[]`` and ``image`` (sizeBytes, inefficientBytes, efficiencyScore,
    fileReference), plus the user/base split, the findings and the biggest files."""
    layers = [a.layers[layer]] if layer is not None else a.layers
    return {
        "layer": [_layer(x) for x in layers],
        "image": {
            "sizeBytes": a.size_bytes,
            "inefficientBytes": a.wasted_bytes,
            "efficiencyScore": a.efficiency,
            "fileReference": [{"count": len(u.uses), "sizeBytes": u.cumulative,
                               "file": "/" + u.path,
                               "layers": [i for i, _ in u.uses]} for u in a.inefficient],
            "name": a.image,
            "digest": a.digest,
            "userSizeBytes": a.user_size_bytes,
            "wastedUserPercent": (None if math.isinf(a.wasted_user_percent)
                                  else a.wasted_user_percent),
            "baseImage": a.base_name,
            "baseLayers": a.base_layers,
            "baseSizeBytes": a.base_bytes,
            "dockerfileSizeBytes": a.dockerfile_bytes,
        },
        "findings": [f.to_dict() for f in a.findings],
        "biggestFiles": [{"file": "/" + p, "sizeBytes": n, "layer": i}
                         for p, n, i in a.biggest_files],
        "directories": [{"dir": "/" + d if d != "/" else d, "sizeBytes": n}
                        for d, n in a.directories.items()],
    }


def _layer(x: LayerReport) -> dict:
    return {
        "index": x.index, "id": x.digest, "digestId": x.diff_id, "sizeBytes": x.size,
        "command": x.command,
        "fileList": [{"path": e.path, "typeFlag": _TYPEFLAGS.get(e.kind, b"0")[0],
                      "linkName": e.link or "", "size": e.size, "fileMode": e.mode,
                      "uid": e.uid, "gid": e.gid, "isDir": e.kind == "dir",
                      "kind": e.kind} for e in x.entries],
        "blobSizeBytes": x.blob_size, "historyIndex": x.history_index, "base": x.base,
        "changes": [{"path": "/" + c.path, "action": c.action, "kind": c.kind,
                     "sizeBytes": c.size, "previousLayer": c.previous,
                     "previousSizeBytes": c.previous_size} for c in x.changes],
    }
