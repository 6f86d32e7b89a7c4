"""Model releases: publishing and the staged rollout under ``/v1/admin/model-releases`` (the
``admin`` role; reading them needs ``viewer``), and ``GET /v1/models/{release}/{file}``, where
devices fetch a release's files with their access token (spec §5.9)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter

from cloud.api_docs import problems
from cloud.constants import ADMIN_PREFIX, MODELS_PATH
from cloud.deps import ADMIN_SECURITY, DEVICE_SECURITY, ReleasesDep, StrictBody, admin_guard
from cloud.domain.releases.schemas import (
    FILE_NAME_PATTERN,
    PublishRelease,
    ReleaseOut,
    ReleasesOut,
    SetRollout,
)
from cloud.ratelimit import Scope, client_address
from cloud.request_context import current_actor
from cloud.services import services_of
from cloud.store.records import OperatorRole
from sync.messages import MAX_RELEASE

ReleasePath = Annotated[int, PathParameter(ge=1, le=MAX_RELEASE, description="The release number")]
FileNamePath = Annotated[
    str, PathParameter(max_length=128, pattern=FILE_NAME_PATTERN, description="A file of the release")
]


class ReleaseAdminController(Controller):
    path = f"{ADMIN_PREFIX}/model-releases"
    guards = [admin_guard]
    security = ADMIN_SECURITY
    tags = ["model releases"]

    @get("/")
    async def list_releases(self, releases: ReleasesDep) -> ReleasesOut:
        """Every published release, newest first: its rollout and how many devices report running
        its model version."""
        return await releases.releases()

    @post(
        "/",
        status_code=201,
        dto=StrictBody[PublishRelease],
        opt={"role": OperatorRole.ADMIN},
        responses=problems(409, 422),
        request_max_body_size=16 * 1024 * 1024,
    )
    async def publish(
        self, request: Request[Any, Any, Any], releases: ReleasesDep, data: JSONBody[PublishRelease]
    ) -> ReleaseOut:
        """Publish a release signed offline (``ecs models sign``), rolled out to nobody yet.
        ``422 release_invalid`` for a release every device would refuse (unsigned, or files other
        than the signed manifest names); ``409 release_exists`` unless its number is above every
        published one. The cloud stores and distributes; it never signs."""
        return await releases.publish(data, actor=current_actor(), address=client_address(request))

    @post(
        "/{release:int}/rollout",
        status_code=200,
        dto=StrictBody[SetRollout],
        opt={"role": OperatorRole.ADMIN},
        responses=problems(409),
    )
    async def rollout(
        self,
        request: Request[Any, Any, Any],
        release: ReleasePath,
        releases: ReleasesDep,
        data: JSONBody[SetRollout],
    ) -> ReleaseOut:
        """Widen the release to ``percent`` of users (a stable cohort per user): each reaches it at
        their devices' next sync. A rollout only widens (``409 rollout_narrowed``): to roll back,
        publish a newer release carrying the older model."""
        return await releases.rollout(
            release, data.percent, actor=current_actor(), address=client_address(request)
        )


class ModelFileController(Controller):
    tags = ["sync"]
    security = DEVICE_SECURITY

    @get(f"{MODELS_PATH}/{{release:int}}/{{name:str}}", summary="A model release's file")
    async def model_file(
        self, request: Request[Any, Any, Any], release: ReleasePath, name: FileNamePath
    ) -> Response[bytes]:
        """A file of a published release (its ``manifest.json`` or a model file it names), with a
        device access token. A release's files never change; the device keeps the ones it installs."""
        services = services_of(request)
        claims = services.devices.authenticate(request.headers.get("authorization"))
        # The device's sync budget: a release is two requests, a loop of them is held like syncs.
        await services.limiter.check(Scope.SYNC, claims.device_id)
        found = await services.releases.file(release, name)
        media = "application/json" if name.endswith(".json") else "application/octet-stream"
        return Response(found.body, media_type=media)
