"""The Streamlit dashboard over the batch predictions and their summary (run: `housing dashboard`)."""
