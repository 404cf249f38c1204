"""GET /greetings, contributed by the plugin (a project route at the same path would win)."""

from loader_plugin_greetings.text import shout_if_asked


async def GET(request):
    return {"greeting": shout_if_asked("hello from a plugin")}
