"""Example: a taskiq worker submitting signups with one IReferClient per worker process."""
