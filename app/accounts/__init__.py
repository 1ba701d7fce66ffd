"""People who sign in to the portal: users, passwords, sessions and their single-use links."""
