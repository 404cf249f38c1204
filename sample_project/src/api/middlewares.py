"""Middlewares of this project's routes: one `middlewares` per `api/` folder."""

from loader import MiddlewareRoute, define_middlewares


async def add_powered_by(request, call_next):
    response = await call_next(request)
    response.headers["X-Powered-By"] = "loader"
    return response


middlewares = define_middlewares([
    MiddlewareRoute(matcher="/store/*", middlewares=[add_powered_by]),
])
