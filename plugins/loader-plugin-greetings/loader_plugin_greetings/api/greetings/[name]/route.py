"""GET /greetings/{name}: greets through the plugin's `greeter` module."""

from loader_plugin_greetings.text import shout_if_asked


async def GET(request):
    greeter = request.app.state.container.resolve("greeter")
    return {"greeting": shout_if_asked(greeter.greet(request.path_params["name"]))}
