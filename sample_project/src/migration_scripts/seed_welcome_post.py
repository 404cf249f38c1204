"""Seeds the blog with a first post. `loader db migrate` runs it once, after the migrations."""


async def run(container):
    blog = container.resolve("blog")
    if not blog.list():
        blog.create("Welcome", body="The first post of the sample project.")
