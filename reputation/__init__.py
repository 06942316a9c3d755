"""Worker and requester records, tiers, qualifications, quality control, disputes."""
