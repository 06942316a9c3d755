"""The worker side: discovery, claiming, the work frame, assignments, submissions."""
