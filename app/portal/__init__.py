"""The web portal: server-rendered pages for the program's managers and its affiliates."""
