"""Choosing the sender from settings: FCM with credentials, else the database log sender."""

from __future__ import annotations

from firebase_admin import credentials

from cloud.push.fcm import FcmPushSender
from cloud.push.log_sender import LogPushSender
from cloud.push.messages import PushSender
from cloud.settings import PushSettings


class PushProjectMissing(ValueError):
    """``FCM_CREDENTIALS_FILE`` is set but no project id is known (``FCM_PROJECT_ID`` or the file)."""


def build_sender(settings: PushSettings) -> PushSender:
    """The sender for ``settings``; call inside the event loop that will use it."""
    if settings.credentials_file is None:
        return LogPushSender()
    credential = credentials.Certificate(str(settings.credentials_file))
    project_id = settings.project_id or credential.project_id
    if not project_id:
        raise PushProjectMissing("set FCM_PROJECT_ID or use a service-account file with project_id")
    return FcmPushSender(credential, project_id, settings.endpoint)
