"""Security scanning of images: SBOM (``sbom``), vulnerabilities (``vulns``) and secrets
(``secrets``), each finding traced to the layer and the Dockerfile step that caused it."""
