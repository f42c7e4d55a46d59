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
# The Flex Template launcher binary, from a dated release of the launcher image (as Google's
# pipeline_with_dependencies sample pins it): a rebuild never picks up an unreviewed launcher.
# Tags: https://cloud.google.com/dataflow/docs/reference/flex-templates-base-images
COPY --from=gcr.io/dataflow-templates-base/python311-template-launcher-base:20230622_RC00 \
     /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher

WORKDIR /template
# The pinned dependencies in a layer of their own, before any code: a code change reuses it,
# and the image runs exactly the versions `make test` tested (the same requirements.txt).
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# Then the project itself, without dependencies (they are all above), and a check that the
# installed set is consistent.
COPY pyproject.toml setup.py README.md ./
COPY pipelines pipelines
COPY transforms transforms
COPY deploy/flex_template_main.py deploy/flex_template_stream_main.py deploy/
RUN pip install --no-cache-dir --no-deps . \
 && pip check

# The launcher runs this file with the template parameters as --flags.
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/deploy/flex_template_main.py

# As an SDK container the image starts the Beam worker harness.
ENTRYPOINT ["/opt/apache/beam/boot"]
