"""Request body decoding and response media-type negotiation.

Bodies come as JSON, YAML (no aliases: an alias bomb would expand on re-encoding) or Kubernetes
protobuf; answers are JSON, optionally converted to a meta.k8s.io Table or
PartialObjectMetadata as the Accept header asks (k8s.io/apiserver/pkg/endpoints/handlers/
negotiation and response.go transformObject).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from kubeproc.api import errors, jsoncodec

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MAX_BODY = 3 * 1024 * 1024  # upstream apiserver's JSON body limit


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases are not supported in request bodies")
        return super().compose_node(parent, index)


def load_yaml(body: bytes | str) -> Any:
    try:
        return yaml.load(body, Loader=_NoAliasLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise errors.BadRequest(f"error converting YAML to JSON: {exc}") from None
    except RecursionError:
        raise errors.BadRequest("error converting YAML to JSON: nesting too deep") from None


def load_json(body: bytes) -> Any:
    try:
        return jsoncodec.loads(body)
    except ValueError as exc:
        raise errors.BadRequest(f"couldn't get version/kind; json parse error: {exc}") from None
    except RecursionError:
        raise errors.BadRequest("json parse error: nesting too deep") from None


def decode_body(content_type: str, body: bytes) -> Any:
    media = (content_type or JSON).split(";", 1)[0].strip().lower()
    if not body:
        raise errors.BadRequest("the request body is empty")
    if len(body) > MAX_BODY:
        raise errors.RequestEntityTooLarge("the request body is too large",)
    if media in (JSON, "*/*", ""):
        return load_json(body)
    if media in (YAML, "application/x-yaml", "text/yaml"):
        return load_yaml(body)
    if media == PROTOBUF:
        from kubeproc.apiserver import protobuf

        return protobuf.decode(body)
    raise errors.UnsupportedMediaType(
        'the body of the request was in an unknown format - accepted media types include: '
        'application/json, application/yaml, application/vnd.kubernetes.protobuf')


@dataclass(frozen=True)
class Accept:
    as_kind: str = ""  # "" | Table | PartialObjectMetadata | PartialObjectMetadataList
    discovery: str = ""  # "" | v2 | v2beta1 (aggregated discovery)


def negotiate(accept: str) -> Accept:
    """Pick the first acceptable alternative, as upstream's negotiation does."""
    if not accept:
        return Accept()
    ok_plain = False
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if media not in (JSON, "application/*", "*/*", YAML, PROTOBUF):
            continue
        as_kind, group = params.get("as", ""), params.get("g", "")
        if as_kind in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList") \
                and group == "meta.k8s.io" and media == JSON:
            return Accept(as_kind=as_kind)
        if as_kind == "APIGroupDiscoveryList" and group == "apidiscovery.k8s.io" and media == JSON:
            if params.get("v") in ("v2", "v2beta1"):
                return Accept(discovery=params["v"])
            continue
        if not as_kind:
            ok_plain = True
            if media != PROTOBUF:
                return Accept()
    if ok_plain:  # protobuf only: we answer JSON, which every client also reads
        return Accept()
    raise errors.NotAcceptable("only the following media types are accepted: application/json, "
                               "application/yaml, application/vnd.kubernetes.protobuf")


def dumps(obj: Any) -> bytes:
    return jsoncodec.dumps(obj)
