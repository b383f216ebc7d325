"""Evidence documents: upload (files, folders, ZIPs), linking by code, versions,
download, preview, deletion, and the processing that extracts their text."""
