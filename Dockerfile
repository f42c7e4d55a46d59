# One image for Dataflow: the Flex Template launcher (it builds and submits the
# job) and the custom SDK container the workers run. Both use the same Python,
# Beam and project code, so what was tested is what runs.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/retry-lineage:VERSION .
#
# See deploy/README.md for the whole procedure.
FROM python:3.11-slim

# The Beam SDK harness entrypoint, same Beam version as requirements.txt.
COPY --from=apache/beam_python3.11_sdk:2.77.0 /opt/apache/beam /opt/apache/beam
# The Flex Template launcher binary.
COPY --from=gcr.io/dataflow-templates-base/python311-template-launcher-base:latest \
     /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher

WORKDIR /template
COPY requirements.txt pyproject.toml setup.py README.md ./
COPY pipelines pipelines
COPY transforms transforms
COPY deploy/flex_template_main.py deploy/flex_template_stream_main.py deploy/

# Pinned dependencies first (a layer that changes rarely), then the project itself.
RUN pip install --no-cache-dir -r requirements.txt \
 && pip install --no-cache-dir --no-deps . \
 && pip check

# The launcher runs this file with the template parameters as --flags.
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/deploy/flex_template_main.py

# As an SDK container the image starts the Beam worker harness.
ENTRYPOINT ["/opt/apache/beam/boot"]
