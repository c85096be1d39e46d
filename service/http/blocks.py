"""Block liftings (API-1.1 "Blocks: existence and lifting"; PDL 4:4): /v1/clients/{id}/block-liftings."""
from __future__ import annotations

from aiohttp import web

from policies.roles import Permission

from ..audit import Action
from ..domain import blocks
from .context import authenticate, runtime
from .routing import Routes, json_response, path_uuid, read_body
from .schemas import BlockLiftingIn, BlockLiftingOut, Empty

routes = Routes("blocks")


@routes.post(
    "/v1/clients/{client_id}/block-liftings",
    summary="Lift the client's blocks for a while, on the client's consent or in a health-care emergency",
    permission=Permission.BLOCK_LIFT, body=BlockLiftingIn, responses={201: BlockLiftingOut},
    errors=((403, "emergency_not_permitted"), (404, "not_found"), (422, "evidence_required"), (422, "invalid_lifting")),
)
async def lift_block(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    client_id = path_uuid(request, "client_id")
    body = await read_body(request, BlockLiftingIn)
    return json_response(BlockLiftingOut, await blocks.lift(runtime(request), caller, client_id, body.command()),
                         status=201)


@routes.delete(
    "/v1/block-liftings/{lifting_id}", summary="End a lifting early (the unit that opened it)",
    permission=Permission.BLOCK_LIFT, action=Action.BLOCK_LIFT_END, body=Empty, responses={200: BlockLiftingOut},
    errors=((404, "not_found"),),
)
async def end_lifting(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    lifting_id = path_uuid(request, "lifting_id")
    await read_body(request, Empty)
    return json_response(BlockLiftingOut, await blocks.end(runtime(request), caller, lifting_id))
