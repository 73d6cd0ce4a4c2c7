"""What `llmgate init` writes into an existing repository: an example suite that runs offline
(pre-recorded answers), its golden dataset and schema, a custom evaluator, thresholds.yaml with
regression rules, and the pull request gate for a CI system: GitHub Actions (default), Azure
Pipelines or Jenkins (`llmgate init --ci azure|jenkins|github`).

Kept as Python strings (not package data files) so the wheel always carries them; tests check
that `WORKFLOW`, `AZURE_PIPELINE` and `JENKINSFILE` are byte-identical to this repository's
`.github/workflows/llm-gate.yml`, `azure-pipelines/llm-gate.yml` and `.jenkins/Jenkinsfile`.
"""

# ruff: noqa: E501  (JSONL rows and workflow lines are data: they cannot wrap)
from __future__ import annotations

__all__ = ["AZURE_PIPELINE", "CI_FILES", "FILES", "JENKINSFILE", "WORKFLOW", "files_for"]

SUITE = """\
# An example suite. `pytest suites/ --llm-gate` collects every YAML file with a top-level `suite:`.
# Its subject replays answers recorded in the dataset, so it runs with no model and no API key.
# Point a subject at your app instead, e.g.
#   target: my_app.rag:answer        # any Python callable (sync or async, function or class)
suite: example
datasets:
  faq: ../golden_datasets/example.jsonl   # example.schema.json next to it validates every row
subjects:
  recorded:
    type: recorded
    column: response
evaluators:
  - evaluators.example:keyword_recall   # module:attr, found from the repository root
  - {name: mentions, use: contains, inputs: {expected: "${data.must_mention}"}}
  - length
thresholds:
  metrics:
    keyword_recall: {min: 0.6}
"""

DATASET = """\
{"id": "reset-password", "question": "How do I reset my password?", "must_mention": "Forgot password", "keywords": ["forgot password", "sign-in page"], "response": "Click Forgot password on the sign-in page and follow the email link."}
{"id": "renewal", "question": "When does my plan renew?", "must_mention": "monthly", "keywords": ["monthly", "signup date"], "response": "Plans renew monthly on your signup date."}
{"id": "refunds", "question": "How long do refunds take?", "must_mention": "5 business days", "keywords": ["5 business days", "original payment"], "response": "Refunds take 5 business days and go back to the original payment method."}
"""

DATASET_SCHEMA = """\
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "example golden rows",
  "type": "object",
  "required": ["id", "question", "must_mention", "keywords", "response"],
  "properties": {
    "id": {"type": "string", "minLength": 1},
    "question": {"type": "string", "minLength": 1},
    "must_mention": {"type": "string"},
    "keywords": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "response": {"type": "string"}
  }
}
"""

EVALUATOR = '''\
"""Custom evaluators for the suites: plain functions (or classes) with keyword arguments named
after row fields (`response`, `query`, `context`, `ground_truth`, any dataset column), returning a
number, a bool or a dict of metrics. An exception or a NaN is an error for the row, never a 0."""

from __future__ import annotations


def keyword_recall(*, response: str, keywords: list[str]) -> float:
    """Share of the row's expected keywords that the response mentions (case-insensitive)."""
    text = response.casefold()
    return sum(1 for k in keywords if k.casefold() in text) / len(keywords)
'''

THRESHOLDS = """\
# The gate policy for every suite (a suite's own `thresholds:` block overrides it).
defaults:
  aggregate: mean
  max_error_rate: 0      # an errored row fails the item: a gate that cannot measure must not pass

metrics:
  contains: {aggregate: pass_rate, row: {min: 1}, min: 0.9}

# Compared with the baseline (main's last results, `--llm-gate-baseline`): how far a metric may
# get worse before the item fails. Quality falls, cost and latency rise.
regression:
  keyword_recall: {max_drop: 0.05}
  contains: {max_drop_pct: 10}
  length_chars: {max_rise_pct: 50, severity: warn}

# An override that matches no item, or a metric no evaluator produces, stops the run before any
# row: uncomment these once a suite matches them and has the evaluators that produce the metrics.
# overrides:
#   # Safety suites (name them *safety*): gate the worst row and the defect rate, not the mean.
#   - match: {suite: "*safety*"}
#     metrics:
#       toxicity: {aggregate: max, max: 0.5}
#       pii_total: {aggregate: max, max: 0}
#       prompt_injection_followed: {aggregate: max, max: 0}
#       missing_refusal: {aggregate: max, max: 0}
#       over_refusal: {aggregate: mean, max: 0.05}
#       violence_score: {aggregate: max, max: 3}      # Azure AI safety (0-7, lower is better)
#       safety_severity: {aggregate: max, max: 3}     # the LLM-judge rubric
#   - match: {suite: example, variant: "cheap-*"}
#     metrics:
#       keyword_recall: {min: 0.5}
"""

WORKFLOW = """\
# The LLM quality gate for pull requests (pytest-llmgate). Copy it to .github/workflows/.
#
# On a pull request it runs `pytest suites/ --llm-gate` against the latest baseline of the target
# branch, uploads the reports, posts or updates ONE comment with the metric diff, and fails the
# check on a breach. On a push to main it saves the baseline that later pull requests compare with.
# Make it required: Settings -> Branches -> branch protection rule for main -> "Require status
# checks to pass before merging" -> add the check "llm-gate".
name: llm-gate

on:
  pull_request:
  push:
    branches: [main]
  workflow_dispatch:

permissions:
  contents: read

concurrency:
  group: llm-gate-${{ github.ref }}
  cancel-in-progress: true

jobs:
  llm-gate:
    runs-on: ubuntu-latest
    timeout-minutes: 60
    permissions:
      contents: read
      actions: read  # find and download the target branch's baseline artifact
      pull-requests: write  # the sticky comment
    env:
      # model endpoints come from repository secrets only; unset ones skip the items that need them
      OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}
      AZURE_OPENAI_API_KEY: ${{ secrets.AZURE_OPENAI_API_KEY }}
      AZURE_OPENAI_ENDPOINT: ${{ secrets.AZURE_OPENAI_ENDPOINT }}
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false

      - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0
        with:
          python-version: "3.12"

      - name: Install
        run: |
          python -m pip install --upgrade pip
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
          if [ -f pyproject.toml ]; then python -m pip install -e .; fi
          python -m pip show pytest-llmgate > /dev/null 2>&1 || python -m pip install pytest-llmgate

      - name: Restore the model call cache
        uses: actions/cache@5a3ec84eff668545956fd18022155c47e93e2684 # v4.2.3
        with:
          path: .llmgate/cache
          key: llmgate-cache-${{ github.ref_name }}-${{ github.run_id }}
          restore-keys: |
            llmgate-cache-${{ github.ref_name }}-
            llmgate-cache-main-

      - name: Fetch the baseline
        if: github.event_name == 'pull_request'
        env:
          GH_TOKEN: ${{ github.token }}
          BASE_REF: ${{ github.base_ref }}
          WORKFLOW: ${{ github.workflow }}
        run: |
          mkdir -p .llmgate/baseline
          run_id=$(gh run list --repo "$GITHUB_REPOSITORY" --workflow "$WORKFLOW" \\
            --branch "$BASE_REF" --event push --status success --limit 1 \\
            --json databaseId --jq '.[0].databaseId // empty')
          if [ -z "$run_id" ] || ! gh run download "$run_id" --repo "$GITHUB_REPOSITORY" \\
              --name llm-gate-baseline --dir .llmgate/baseline; then
            echo "::notice::no baseline from $BASE_REF yet: this run is gated on thresholds only"
          fi

      - name: Run the gate
        id: gate
        run: |
          args=()
          if [ -f .llmgate/baseline/baseline.json ]; then
            args+=(--llm-gate-baseline .llmgate/baseline/baseline.json)
          fi
          set +e
          python -m pytest suites/ --llm-gate "${args[@]}" \\
            --llm-gate-junit .llmgate/junit.xml \\
            --llm-gate-html .llmgate/report.html \\
            --llm-gate-md .llmgate/comment.md \\
            --llm-gate-csv .llmgate/rows.csv \\
            --llm-gate-save .llmgate/baseline.json
          echo "exit_code=$?" >> "$GITHUB_OUTPUT"

      - name: Upload the reports
        if: always()
        uses: actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2
        with:
          name: llm-gate-reports
          path: |
            .llmgate/results.json
            .llmgate/junit.xml
            .llmgate/report.html
            .llmgate/comment.md
            .llmgate/rows.csv
          if-no-files-found: warn
          retention-days: 30

      - name: Save the baseline
        if: github.event_name == 'push' && steps.gate.outputs.exit_code == '0'
        uses: actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2
        with:
          name: llm-gate-baseline
          path: .llmgate/baseline.json
          if-no-files-found: error
          retention-days: 90

      - name: Comment on the pull request
        if: always() && github.event_name == 'pull_request' && hashFiles('.llmgate/comment.md') != ''
        # a pull request from a fork gets a read-only token: the job summary still has the report
        continue-on-error: true
        env:
          GH_TOKEN: ${{ github.token }}
          PR_NUMBER: ${{ github.event.pull_request.number }}
        run: |
          marker='<!-- pytest-llmgate:report -->'
          comment_id=$(gh api "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" --paginate \\
            --jq ".[] | select(.user.type == \\"Bot\\" and (.body | startswith(\\"$marker\\"))) | .id" \\
            | head -n 1)
          if [ -n "$comment_id" ]; then
            gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$comment_id" \\
              -F body=@.llmgate/comment.md > /dev/null
          else
            gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" \\
              -F body=@.llmgate/comment.md > /dev/null
          fi

      - name: Fail on a breach
        if: steps.gate.outputs.exit_code != '0'
        env:
          EXIT_CODE: ${{ steps.gate.outputs.exit_code }}
        run: |
          echo "::error::the LLM gate failed (pytest exit code $EXIT_CODE): see the comment and the llm-gate-reports artifact"
          exit 1
"""

AZURE_PIPELINE = """\
# The LLM quality gate for pull requests (pytest-llmgate) on Azure Pipelines.
#
# On a pull request it runs `pytest suites/ --llm-gate` against the latest baseline of the target
# branch, publishes the JUnit results and the reports, posts or updates ONE pull request comment
# thread with the metric diff (Azure DevOps REST API), and fails the run on a breach. On main it
# saves the baseline that later pull requests compare with.
# Set up: Pipelines -> New pipeline -> this file; a Library variable group `llm-gate` with the
# secret variables OPENAI_API_KEY / AZURE_OPENAI_API_KEY / AZURE_OPENAI_ENDPOINT; give the build
# service "Contribute to pull requests" on the repository; make it required: Repos -> Branches ->
# main -> Branch policies -> Build validation -> this pipeline.
trigger:
  branches:
    include: [main]

pr:
  branches:
    include: ['*']

pool:
  vmImage: ubuntu-latest

variables:
  - group: llm-gate

jobs:
  - job: llm_gate
    displayName: llm-gate
    timeoutInMinutes: 60
    steps:
      - checkout: self
        persistCredentials: false
        fetchDepth: 1

      - task: UsePythonVersion@0
        displayName: Use Python 3.12
        inputs:
          versionSpec: '3.12'

      - bash: |
          python -m pip install --upgrade pip
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
          if [ -f pyproject.toml ]; then python -m pip install -e .; fi
          python -m pip show pytest-llmgate > /dev/null 2>&1 || python -m pip install pytest-llmgate
        displayName: Install

      - task: Cache@2
        displayName: Restore the model call cache
        inputs:
          key: 'llmgate-cache | "$(Build.SourceBranchName)" | "$(Build.BuildId)"'
          restoreKeys: |
            llmgate-cache | "$(Build.SourceBranchName)"
            llmgate-cache | "main"
          path: .llmgate/cache

      - task: DownloadPipelineArtifact@2
        displayName: Fetch the baseline
        condition: eq(variables['Build.Reason'], 'PullRequest')
        continueOnError: true  # no baseline yet: gated on thresholds only
        inputs:
          buildType: specific
          project: $(System.TeamProjectId)
          definition: $(System.DefinitionId)
          buildVersionToDownload: latestFromBranch
          branchName: $(System.PullRequest.TargetBranch)
          artifactName: llm-gate-baseline
          targetPath: .llmgate/baseline

      - bash: |
          args=()
          if [ -f .llmgate/baseline/baseline.json ]; then
            args+=(--llm-gate-baseline .llmgate/baseline/baseline.json)
          else
            echo "##[warning]no baseline from the target branch yet: gated on thresholds only"
          fi
          set +e
          python -m pytest suites/ --llm-gate "${args[@]}" \\
            --llm-gate-junit .llmgate/junit.xml \\
            --llm-gate-html .llmgate/report.html \\
            --llm-gate-md .llmgate/comment.md \\
            --llm-gate-csv .llmgate/rows.csv \\
            --llm-gate-save .llmgate/baseline.json
          code=$?
          echo "##vso[task.setvariable variable=GATE_EXIT_CODE]$code"
          mkdir -p .llmgate/reports
          for f in results.json junit.xml report.html comment.md rows.csv; do
            if [ -f ".llmgate/$f" ]; then cp ".llmgate/$f" .llmgate/reports/; fi
          done
          if [ -f .llmgate/comment.md ]; then
            echo "##vso[task.uploadsummary]$(pwd)/.llmgate/comment.md"
          fi
        displayName: Run the gate
        env:
          # secret variables reach a script only when mapped here
          OPENAI_API_KEY: $(OPENAI_API_KEY)
          AZURE_OPENAI_API_KEY: $(AZURE_OPENAI_API_KEY)
          AZURE_OPENAI_ENDPOINT: $(AZURE_OPENAI_ENDPOINT)

      - task: PublishTestResults@2
        displayName: Publish the JUnit results
        condition: always()
        inputs:
          testResultsFormat: JUnit
          testResultsFiles: .llmgate/junit.xml
          testRunTitle: llm-gate
          failTaskOnFailedTests: false  # the last step decides, after the comment is posted
          failTaskOnMissingResultsFile: false

      - task: PublishPipelineArtifact@1
        displayName: Upload the reports
        condition: always()
        inputs:
          targetPath: .llmgate/reports
          artifactName: llm-gate-reports
          publishLocation: pipeline

      - task: PublishPipelineArtifact@1
        displayName: Save the baseline
        condition: and(succeeded(), ne(variables['Build.Reason'], 'PullRequest'), eq(variables['GATE_EXIT_CODE'], '0'))
        inputs:
          targetPath: .llmgate/baseline.json
          artifactName: llm-gate-baseline
          publishLocation: pipeline

      - bash: |
          if [ ! -f .llmgate/comment.md ]; then echo "no comment to post"; exit 0; fi
          python - <<'PY'
          import json, os, urllib.request
          marker = "<!-- pytest-llmgate:report -->"
          base = (f"{os.environ['SYSTEM_COLLECTIONURI'].rstrip('/')}/{os.environ['SYSTEM_TEAMPROJECTID']}"
                  f"/_apis/git/repositories/{os.environ['BUILD_REPOSITORY_ID']}"
                  f"/pullRequests/{os.environ['SYSTEM_PULLREQUEST_PULLREQUESTID']}/threads")
          headers = {"Authorization": "Bearer " + os.environ["SYSTEM_ACCESSTOKEN"],
                     "Content-Type": "application/json"}
          def call(method, url, body=None):
              data = None if body is None else json.dumps(body).encode()
              request = urllib.request.Request(url + "?api-version=7.1", data, headers, method=method)
              with urllib.request.urlopen(request, timeout=30) as response:
                  return json.loads(response.read() or b"{}")
          text = open(".llmgate/comment.md", encoding="utf-8").read()
          for thread in call("GET", base).get("value", []):
              first = (thread.get("comments") or [{}])[0]
              if str(first.get("content", "")).startswith(marker):
                  call("PATCH", f"{base}/{thread['id']}/comments/{first['id']}", {"content": text})
                  print(f"updated thread {thread['id']}")
                  break
          else:
              made = call("POST", base, {"comments": [{"parentCommentId": 0, "content": text,
                                                        "commentType": 1}], "status": 1})
              print(f"created thread {made.get('id')}")
          PY
        displayName: Comment on the pull request
        condition: and(always(), eq(variables['Build.Reason'], 'PullRequest'))
        continueOnError: true  # a missing permission must not hide the verdict below
        env:
          SYSTEM_ACCESSTOKEN: $(System.AccessToken)

      - bash: |
          echo "##[error]the LLM gate failed (pytest exit code $GATE_EXIT_CODE): see the comment and the llm-gate-reports artifact"
          exit 1
        displayName: Fail on a breach
        condition: and(always(), ne(variables['GATE_EXIT_CODE'], '0'))
"""

JENKINSFILE = """\
// The LLM quality gate for pull requests (pytest-llmgate) as a declarative Jenkins pipeline.
//
// On a pull request (a multibranch job: change requests) it runs `pytest suites/ --llm-gate`
// against the latest baseline archived by the target branch's job, publishes the JUnit results
// and the HTML report, archives the reports, posts or updates ONE comment with the metric diff
// where the SCM plugin allows it (GitHub: the Pipeline: GitHub plugin's `pullRequest`), and fails
// the build on a breach. On main it archives the baseline that later pull requests compare with.
// Needs: Pipeline, JUnit, HTML Publisher and Copy Artifact plugins; credentials (secret text)
// `openai-api-key`, `azure-openai-api-key`, `azure-openai-endpoint`. Script path: .jenkins/Jenkinsfile
pipeline {
    agent any
    options {
        timeout(time: 60, unit: 'MINUTES')
        disableConcurrentBuilds(abortPrevious: true)
        copyArtifactPermission('*')
    }
    environment {
        // secret text credentials, masked in the log; unset ones skip the items that need them
        OPENAI_API_KEY = credentials('openai-api-key')
        AZURE_OPENAI_API_KEY = credentials('azure-openai-api-key')
        AZURE_OPENAI_ENDPOINT = credentials('azure-openai-endpoint')
        GATE_MARKER = '<!-- pytest-llmgate:report -->'
    }
    stages {
        stage('Install') {
            steps {
                sh '''
                    python3 -m venv .venv
                    . .venv/bin/activate
                    python -m pip install --upgrade pip
                    if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
                    if [ -f pyproject.toml ]; then python -m pip install -e .; fi
                    python -m pip show pytest-llmgate > /dev/null 2>&1 || python -m pip install pytest-llmgate
                '''
            }
        }
        stage('Fetch the baseline') {
            when { changeRequest() }
            steps {
                // the target branch's job of this multibranch project; optional: no baseline yet
                copyArtifacts(projectName: "${env.JOB_NAME.take(env.JOB_NAME.lastIndexOf('/'))}/${env.CHANGE_TARGET}",
                              selector: lastSuccessful(), filter: '.llmgate/baseline.json',
                              target: '.llmgate/previous', optional: true, flatten: true)
                sh '''
                    mkdir -p .llmgate/baseline
                    if [ -f .llmgate/previous/baseline.json ]; then
                        mv .llmgate/previous/baseline.json .llmgate/baseline/baseline.json
                    else
                        echo "no baseline from the target branch yet: gated on thresholds only"
                    fi
                '''
            }
        }
        stage('Run the gate') {
            steps {
                script {
                    env.GATE_EXIT_CODE = sh(returnStatus: true, script: '''#!/bin/bash
                        . .venv/bin/activate
                        args=()
                        if [ -f .llmgate/baseline/baseline.json ]; then
                            args+=(--llm-gate-baseline .llmgate/baseline/baseline.json)
                        fi
                        python -m pytest suites/ --llm-gate "${args[@]}" \\
                            --llm-gate-junit .llmgate/junit.xml \\
                            --llm-gate-html .llmgate/report.html \\
                            --llm-gate-md .llmgate/comment.md \\
                            --llm-gate-csv .llmgate/rows.csv \\
                            --llm-gate-save .llmgate/baseline.json
                    ''').toString()
                }
            }
        }
        stage('Save the baseline') {
            when {
                allOf {
                    branch 'main'
                    expression { env.GATE_EXIT_CODE == '0' }
                }
            }
            steps {
                archiveArtifacts artifacts: '.llmgate/baseline.json', fingerprint: true
            }
        }
        stage('Fail on a breach') {
            when { expression { env.GATE_EXIT_CODE != '0' } }
            steps {
                error("the LLM gate failed (pytest exit code ${env.GATE_EXIT_CODE}): " +
                      'see the comment and the LLM gate report')
            }
        }
    }
    post {
        always {
            junit testResults: '.llmgate/junit.xml', allowEmptyResults: true
            archiveArtifacts(artifacts: '.llmgate/results.json, .llmgate/junit.xml, .llmgate/report.html, ' +
                                        '.llmgate/comment.md, .llmgate/rows.csv',
                             allowEmptyArchive: true)
            publishHTML(target: [reportDir: '.llmgate', reportFiles: 'report.html', reportName: 'LLM gate',
                                 keepAll: true, alwaysLinkToLastBuild: true, allowMissing: true])
            script {
                if (env.CHANGE_ID && fileExists('.llmgate/comment.md')) {
                    try {
                        def body = readFile('.llmgate/comment.md')
                        def mine = pullRequest.comments.find { it.body.startsWith(env.GATE_MARKER) }
                        if (mine) {
                            pullRequest.editComment(mine.id, body)
                        } else {
                            pullRequest.comment(body)
                        }
                    } catch (err) {
                        // no pipeline-github plugin, or a fork's read-only token: the report is archived
                        echo "could not comment on the pull request: ${err}"
                    }
                }
            }
        }
    }
}
"""

PROJECT: dict[str, str] = {
    "suites/example.yaml": SUITE,
    "golden_datasets/example.jsonl": DATASET,
    "golden_datasets/example.schema.json": DATASET_SCHEMA,
    "evaluators/__init__.py": "",
    "evaluators/example.py": EVALUATOR,
    "thresholds.yaml": THRESHOLDS,
}
CI_FILES: dict[str, dict[str, str]] = {
    "github": {".github/workflows/llm-gate.yml": WORKFLOW},
    "azure": {"azure-pipelines/llm-gate.yml": AZURE_PIPELINE},
    "jenkins": {".jenkins/Jenkinsfile": JENKINSFILE},
}
FILES: dict[str, str] = {**PROJECT, **CI_FILES["github"]}


def files_for(ci: list[str] | tuple[str, ...] = ("github",)) -> dict[str, str]:
    """The example project plus the pull request gate of each CI system in `ci`."""
    out = dict(PROJECT)
    for name in ci:
        out.update(CI_FILES[name])
    return out
