"""Cursor pagination: stable pages over tables that grow while a client walks them."""

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 1000
