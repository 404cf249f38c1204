"""The blog module: posts, kept by BlogService."""

from loader import Module
from src.modules.blog.service import BlogService

module = Module("blog", service=BlogService)
