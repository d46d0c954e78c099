"""Who may see the DataPipe view: Airflow authenticates nothing for a plugin's app by itself.

Every route depends on :func:`require_viewer`: the user comes from the request's Airflow token
(the ``Authorization: Bearer`` header or the UI's session cookie) through Airflow's own
resolution, and the auth manager is asked whether that user may read the custom view
``DataPipe``. No token, an expired or forged one, or a user the auth manager refuses: 401/403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

#: the resource name the auth manager is asked about (``is_authorized_custom_view``)
RESOURCE = "DataPipe"


async def current_user(request: Request):
    """The Airflow user of this request; HTTP 401 when there is none (anonymous)."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPAuthorizationCredentials

    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    bearer = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    return await get_user(request, _oauth_token=None, bearer_credentials=bearer)


def require_viewer(request: Request, user: Annotated[object, Depends(current_user)]) -> object:
    """The request's user if Airflow's auth manager lets it read the DataPipe view (403 else)."""
    from airflow.api_fastapi.app import get_auth_manager

    allowed = get_auth_manager().is_authorized_custom_view(
        method="GET", resource_name=RESOURCE, user=user
    )
    if not allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed to read the DataPipe view")
    return user


Viewer = Annotated[object, Depends(require_viewer)]
