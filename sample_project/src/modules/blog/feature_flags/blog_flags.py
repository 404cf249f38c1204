from loader import FlagSettings

blog_comments = FlagSettings(
    key="blog_comments",
    default_val=False,
    env_key="LOADER_FF_BLOG_COMMENTS",
    description="GET /store/posts/{id} includes the post's comments",
)
