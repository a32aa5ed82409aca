"""Read-only queries behind the admin pages, one module per page that needs more than a line."""
