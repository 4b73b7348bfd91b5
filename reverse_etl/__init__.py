"""Reverse ETL: audiences in the warehouse -> destinations, streamed in bounded batches."""
