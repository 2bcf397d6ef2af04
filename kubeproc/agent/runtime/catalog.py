"""The image catalog: which host program an image name stands for (no registry is reachable).

Owns image-name normalisation, loading the built-in `images.yaml` merged with the user's
`$KUBEPROC_HOME/images.yaml`, and Kubernetes' command/args rule. `resolve_in` is pure;
`resolve` adds the (mtime-cached) file loading.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import yaml

BUILTIN = pathlib.Path(__file__).with_name("images.yaml")
FIELDS = {"command", "args", "env", "workingDir"}


@dataclass(frozen=True)
class Resolved:
    """What to run for one container: argv (entrypoint + cmd), the image's env, its workdir."""

    image: str  # the catalog key that matched, or "" when the command was explicit
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str | None = None


@dataclass(frozen=True)
class ImagePullError:
    """The container cannot start from this image; `reason` is the container's Waiting reason."""

    message: str
    reason: str = "ErrImagePull"


class CatalogError(ValueError):
    """A catalog file is malformed (the message names the file and the entry)."""


def image_name(image: str) -> str:
    """`docker.io/library/redis:7` -> `redis`; `localhost:5000/kubeproc/web@sha256:..` -> `kubeproc/web`."""
    ref = image.strip().split("@", 1)[0]
    parts = ref.split("/")
    # docker/reference: the first component is a registry host if it has '.' or ':' or is localhost
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if parts[-1].count(":"):
        parts[-1] = parts[-1].rsplit(":", 1)[0]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts).lower()


def _check_entry(source: str, key: str, entry: Any) -> dict[str, Any]:
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise CatalogError(f"{source}: image {key!r}: expected a mapping, got {type(entry).__name__}")
    unknown = set(entry) - FIELDS
    if unknown:
        raise CatalogError(f"{source}: image {key!r}: unknown field(s) {sorted(unknown)}; known: {sorted(FIELDS)}")
    for f in ("command", "args"):
        v = entry.get(f)
        if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            raise CatalogError(f"{source}: image {key!r}: {f} must be a list of strings")
    env = entry.get("env")
    if env is not None and (not isinstance(env, dict) or not all(isinstance(k, str) for k in env)):
        raise CatalogError(f"{source}: image {key!r}: env must be a mapping of NAME: value")
    wd = entry.get("workingDir")
    if wd is not None and (not isinstance(wd, str) or not wd.startswith("/")):
        raise CatalogError(f"{source}: image {key!r}: workingDir must be an absolute path")
    return entry


def parse_catalog(text: str, source: str) -> dict[str, dict[str, Any]]:
    """Parse one catalog file's text into {normalised image name: entry}; raises CatalogError."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise CatalogError(f"{source}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CatalogError(f"{source}: expected a mapping of image name -> entry")
    return {image_name(str(k)): _check_entry(source, str(k), v) for k, v in data.items()}


_cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}


def _load(path: pathlib.Path) -> dict[str, dict[str, Any]]:
    key = str(path)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return {}
    hit = _cache.get(key)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    parsed = parse_catalog(path.read_text(), key)
    _cache[key] = (mtime, parsed)
    return parsed


def load_catalog(user_catalog_path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """The built-in catalog with the user's file laid over it (user entries replace whole entries)."""
    merged = dict(_load(BUILTIN))
    if user_catalog_path is not None:
        merged.update(_load(pathlib.Path(user_catalog_path)))
    return merged


def lookup(catalog: Mapping[str, Mapping[str, Any]], image: str) -> tuple[str, Mapping[str, Any]] | None:
    """The entry for an image: the full name first, then its last path component (`bitnami/redis`)."""
    name = image_name(image)
    for key in (name, name.rsplit("/", 1)[-1]):
        if key in catalog:
            return key, catalog[key]
    return None


def resolve_in(
    catalog: Mapping[str, Mapping[str, Any]],
    image: str,
    command: Sequence[str] | None,
    args: Sequence[str] | None,
) -> Resolved | ImagePullError:
    """Kubernetes' rule: `command` replaces the ENTRYPOINT and drops the CMD; `args` replace the CMD.

    Follows the command/args table of k8s.io docs "Define a Command and Arguments for a Container"
    (as implemented by containerd's CRI plugin when building the OCI process args).
    """
    hit = lookup(catalog, image)
    if hit is None and not command:
        name = image_name(image)
        return ImagePullError(
            f"image {image!r} is not in the kubeproc image catalog (no registry is reachable, images map "
            f"to host programs): add an entry `{name}: {{command: [<program>]}}` to $KUBEPROC_HOME/images.yaml, "
            f"or give the container an explicit `command`"
        )
    key, entry = hit if hit is not None else ("", {})
    if command:
        argv = list(command) + list(args or [])
    else:
        argv = list(entry.get("command") or []) + list(args if args else (entry.get("args") or []))
    if not argv:
        return ImagePullError(
            f"image {image!r} has no command in the catalog and the container gives none: "
            f"set `command` (or `args`) on the container",
            reason="CreateContainerError",
        )
    env = tuple((str(k), "" if v is None else str(v)) for k, v in (entry.get("env") or {}).items())
    return Resolved(image=key, argv=tuple(argv), env=env, working_dir=entry.get("workingDir"))


def resolve(
    image: str,
    command: Sequence[str] | None,
    args: Sequence[str] | None,
    user_catalog_path: str | os.PathLike[str] | None = None,
) -> Resolved | ImagePullError:
    """Resolve a container's image against the built-in + user catalog (see `resolve_in`)."""
    try:
        catalog = load_catalog(user_catalog_path)
    except CatalogError as e:
        return ImagePullError(f"cannot read the image catalog: {e}")
    return resolve_in(catalog, image, command, args)
