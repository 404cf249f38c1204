"""GET /store/hello: the smallest route there is."""


async def GET(request):
    return {"message": "hello"}
