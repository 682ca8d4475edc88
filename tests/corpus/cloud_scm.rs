//! Monorepo: cloud providers and source control / CI / registries.
use super::model::{Corpus, Family::*};
use super::rng::*;
use super::tokens::*;

pub fn cloud(c: &mut Corpus, r: &mut Rng) {
    // ~/.aws/credentials style, two profiles, one with a session
    let (id1, s1) = (aws_key_id(r, "AKIA"), aws_secret(r));
    let p1 = c.s(Cloud, "aws-access-key-pair", format!("aws_access_key_id = {id1}\naws_secret_access_key = {s1}"));
    let (id2, s2, tok) = (aws_key_id(r, "ASIA"), aws_secret(r), aws_session_token(r));
    let p2 = c.s(Cloud, "aws-sts-key-pair", format!("aws_access_key_id = {id2}\naws_secret_access_key = {s2}"));
    let t2 = c.s(Cloud, "aws-session-token", format!("aws_session_token = {tok}"));
    let t = format!("[default]\n{p1}\nregion = eu-west-1\n\n[ci-assumed]\n{p2}\n{t2}\nregion = us-east-1\n");
    c.file("ops/aws/credentials", t);

    // .env with key id then secret
    let (id, s) = (aws_key_id(r, "AKIA"), aws_secret(r));
    let p = c.s(Cloud, "aws-access-key-pair", format!("AWS_ACCESS_KEY_ID={id}\nAWS_SECRET_ACCESS_KEY={s}"));
    let gkey = c.s(Cloud, "gcp-api-key", gcp_api_key(r));
    let t = format!("# uploader service\nNODE_ENV=production\nPORT=8080\nS3_BUCKET=acme-uploads-prod\nAWS_REGION=eu-central-1\n{p}\nGOOGLE_MAPS_API_KEY={gkey}\nLOG_LEVEL=info\n");
    c.file("services/uploader/.env", t);

    // Terraform provider with the secret first
    let (id, s) = (aws_key_id(r, "AKIA"), aws_secret(r));
    let p = c.s(Cloud, "aws-access-key-pair", format!("  secret_key = \"{s}\"\n  access_key = \"{id}\""));
    let t = format!("terraform {{\n  required_providers {{\n    aws = {{\n      source  = \"hashicorp/aws\"\n      version = \"~> 5.0\"\n    }}\n  }}\n}}\n\nprovider \"aws\" {{\n  region     = \"us-west-2\"\n{p}\n}}\n\nresource \"aws_s3_bucket\" \"logs\" {{\n  bucket = \"acme-access-logs\"\n}}\n");
    c.file("infra/terraform/aws/main.tf", t);

    // boto3 in Python source
    let (id, s) = (aws_key_id(r, "AKIA"), aws_secret(r));
    let p = c.s(
        Cloud,
        "aws-access-key-pair",
        format!("    aws_access_key_id=\"{id}\",\n    aws_secret_access_key=\"{s}\","),
    );
    let t = format!("import boto3\n\n\ndef s3_client():\n    return boto3.client(\n    \"s3\",\n{p}\n    region_name=\"eu-west-1\",\n    )\n");
    c.file("services/reports/reports/storage.py", t);

    // Java properties with both on adjacent lines, in reverse order
    let (id, s) = (aws_key_id(r, "AKIA"), aws_secret(r));
    let p = c.s(
        Cloud,
        "aws-access-key-pair",
        format!("cloud.aws.credentials.secret-key={s}\ncloud.aws.credentials.access-key={id}"),
    );
    let t = format!("spring.application.name=ledger\nserver.port=8081\ncloud.aws.region.static=eu-west-1\n{p}\ncloud.aws.stack.auto=false\n");
    c.file("services/ledger/src/main/resources/application-aws.properties", t);

    // GCP service-account key file: the whole file is the secret
    let sa = gcp_sa_json(r, "acme-analytics-prod", "bq-loader");
    let t = c.s(Cloud, "gcp-service-account-json", sa);
    c.file("infra/gcp/bq-loader-sa.json", t);
    // GCP service-account JSON embedded as a JSON string (one line)
    let sa = gcp_sa_json(r, "acme-ml-424212", "vertex-runner")
        .replace('\n', "")
        .replace("\\n", "\\\\n")
        .replace('"', "\\\"");
    let line = c.s(Cloud, "gcp-service-account-embedded", format!("    \"credentials_json\": \"{sa}\","));
    let t = format!("{{\n  \"pipeline\": \"nightly-train\",\n  \"gcp\": {{\n    \"project\": \"acme-ml-424212\",\n{line}\n    \"region\": \"europe-west4\"\n  }}\n}}\n");
    c.file("ml/pipelines/nightly-train.json", t);

    // OAuth client secret file
    let sec = c.s(Cloud, "gcp-oauth-client-secret", gocspx(r));
    let t = format!("{{\"installed\":{{\"client_id\":\"{}-{}.apps.googleusercontent.com\",\"project_id\":\"acme-desktop\",\"auth_uri\":\"https://accounts.google.com/o/oauth2/auth\",\"token_uri\":\"https://oauth2.googleapis.com/token\",\n\"client_secret\":\"{sec}\",\"redirect_uris\":[\"http://localhost\"]}}}}\n", r.digits(12), r.s(LOWER_ALNUM, 32));
    c.file("tools/desktop-sync/client_secret.json", t);

    // Azure: appsettings.json with storage connection string, Service Bus and AD client secret
    let acct = format!("acmeprod{}", r.s(LOWER_ALNUM, 6));
    let cs = c.s(
        Cloud,
        "azure-storage-connection-string",
        format!(
            "DefaultEndpointsProtocol=https;AccountName={acct};AccountKey={};EndpointSuffix=core.windows.net",
            azure_account_key(r)
        ),
    );
    let sb = c.s(Cloud, "azure-servicebus-connection-string", format!("Endpoint=sb://acme-orders.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={}", azure_sb_key(r)));
    let ad = c.s(Cloud, "azure-ad-client-secret", azure_ad_secret(r));
    let t = format!("{{\n  \"Logging\": {{ \"LogLevel\": {{ \"Default\": \"Information\" }} }},\n  \"ConnectionStrings\": {{\n    \"Blob\": \"{cs}\",\n    \"Orders\": \"{sb}\"\n  }},\n  \"AzureAd\": {{\n    \"Instance\": \"https://login.microsoftonline.com/\",\n    \"TenantId\": \"{}\",\n    \"ClientId\": \"{}\",\n    \"ClientSecret\": \"{ad}\"\n  }}\n}}\n", r.uuid(), r.uuid());
    c.file("services/billing-api/appsettings.Production.json", t);
    // Terraform tfvars with an account key
    let k = c.s(Cloud, "azure-storage-account-key", azure_account_key(r));
    let t = format!("location             = \"westeurope\"\nstorage_account_name = \"acmetfstate01\"\nstorage_access_key   = \"{k}\"\n");
    c.file("infra/terraform/azure/prod.tfvars", t);
    // Azure Functions local.settings.json with client secret for a service principal
    let ad = c.s(Cloud, "azure-ad-client-secret", azure_ad_secret(r));
    let t = format!("{{\n  \"IsEncrypted\": false,\n  \"Values\": {{\n    \"FUNCTIONS_WORKER_RUNTIME\": \"python\",\n    \"AZURE_TENANT_ID\": \"{}\",\n    \"AZURE_CLIENT_ID\": \"{}\",\n    \"AZURE_CLIENT_SECRET\": \"{ad}\"\n  }}\n}}\n", r.uuid(), r.uuid());
    c.file("functions/thumbnailer/local.settings.json", t);
    // SAS URL in a backup script
    let sas = c.s(Cloud, "azure-sas-url", format!("https://acmebackups.blob.core.windows.net/pg-dumps?sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2026-12-31T23:59:59Z&st=2025-01-01T00:00:00Z&spr=https&sig={}", azure_sig(r)));
    let t = format!("#!/usr/bin/env bash\nset -euo pipefail\nstamp=$(date +%F)\npg_dump -Fc \"$DATABASE_URL\" > /tmp/db-$stamp.dump\nazcopy copy /tmp/db-$stamp.dump \"{sas}\"\n");
    c.file("ops/backup/upload-dump.sh", t);

    // Alibaba
    let pair = c.s(
        Cloud,
        "alibaba-access-key",
        format!("aliyun.oss.access-key-id=LTAI{}\naliyun.oss.access-key-secret={}", r.alnum(20), r.alnum(30)),
    );
    let t = format!("aliyun.oss.endpoint=oss-cn-hangzhou.aliyuncs.com\naliyun.oss.bucket=acme-cn-assets\n{pair}\n");
    c.file("services/cn-gateway/config/oss.properties", t);
    // IBM Cloud
    let k = c.s(
        Cloud,
        "ibm-cloud-api-key",
        format!("IBMCLOUD_API_KEY={}", r.s("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", 44)),
    );
    let t = format!("IBMCLOUD_REGION=eu-de\nIBMCLOUD_RESOURCE_GROUP=analytics\n{k}\n");
    c.file("deploy/ibm/.env.ibm", t);
    // DigitalOcean
    let dop = c.s(Cloud, "digitalocean-pat", format!("dop_v1_{}", r.hex(64)));
    let t = format!("do_token     = \"{dop}\"\ndroplet_size = \"s-2vcpu-4gb\"\nregion       = \"fra1\"\n");
    c.file("infra/terraform/digitalocean/terraform.tfvars", t);
    let doo = c.s(Cloud, "digitalocean-oauth-token", format!("doo_v1_{}", r.hex(64)));
    let t = format!("access-token: {doo}\ncontext: default\noutput: text\n");
    c.file("ops/doctl/config.yaml", t);
    // Linode CLI config
    let lt = c.s(Cloud, "linode-token", r.hex(64));
    let t = format!(
        "[DEFAULT]\ndefault-user = acme-ops\n\n[acme-ops]\ntoken = {lt}\nregion = eu-central\ntype = g6-standard-2\n"
    );
    c.file("ops/linode/linode-cli", t);
    // Heroku legacy key (UUID) and new HRKU- token
    let hk = c.s(Cloud, "heroku-api-key", r.uuid());
    let hk2 = c.s(Cloud, "heroku-api-key-v2", format!("HRKU-AA{}", r.b64url(58)));
    let t = format!("name: deploy-heroku\non:\n  push:\n    branches: [main]\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: akhileshns/heroku-deploy@v3.13.15\n        with:\n          heroku_api_key: {hk}\n          heroku_app_name: acme-legacy-admin\n          heroku_email: ops@acme.test\n      - run: heroku config:set FEATURE_X=1 -a acme-legacy-admin\n        env:\n          HEROKU_API_KEY: {hk2}\n");
    c.file(".github/workflows/deploy-heroku.yml", t);
    // Cloudflare token, global key, origin CA key
    let cft = c.s(Cloud, "cloudflare-api-token", r.b64url(40));
    let t = format!("name: purge-cache\non: workflow_dispatch\njobs:\n  purge:\n    runs-on: ubuntu-latest\n    env:\n      CLOUDFLARE_API_TOKEN: {cft}\n      CLOUDFLARE_ZONE_ID: {}\n    steps:\n      - run: |\n          curl -sS -X POST \"https://api.cloudflare.com/client/v4/zones/$CLOUDFLARE_ZONE_ID/purge_cache\" \\\n            -H \"Authorization: Bearer $CLOUDFLARE_API_TOKEN\" --data '{{\"purge_everything\":true}}'\n", r.hex(32));
    c.file(".github/workflows/purge-cache.yml", t);
    let gk = c.s(Cloud, "cloudflare-global-api-key", format!("CF_API_KEY={}", r.hex(37)));
    let oca = c.s(Cloud, "cloudflare-origin-ca-key", format!("CF_ORIGIN_CA_KEY=v1.0-{}-{}", r.hex(24), r.hex(146)));
    let t = format!(
        "# used by certbot-dns-cloudflare and origin-ca-issuer\nCF_API_EMAIL=dns-admin@acme.test\n{gk}\n{oca}\n"
    );
    c.file("ops/dns/cloudflare.env", t);
    // Fastly, Vercel, Netlify
    let fk = c.s(Cloud, "fastly-api-token", r.b64url(32));
    let t = format!(
        "export FASTLY_SERVICE_ID={}\nexport FASTLY_API_TOKEN={fk}\nfastly compute publish --non-interactive\n",
        r.alnum(22)
    );
    c.file("edge/scripts/publish.sh", t);
    let vt = c.s(Cloud, "vercel-token", r.alnum(24));
    let nt = c.s(Cloud, "netlify-token", format!("nfp_{}", r.alnum(40)));
    let t = format!("  preview:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: npx vercel deploy --prebuilt --token {vt}\n      - run: npx netlify-cli deploy --dir=storybook-static\n        env:\n          NETLIFY_AUTH_TOKEN: {nt}\n          NETLIFY_SITE_ID: {}\n", r.uuid());
    c.file("web/.github/workflows/preview.yml", format!("name: preview\non: pull_request\njobs:\n{t}"));
    // Supabase: management token and service-role JWT
    let sbp = c.s(Cloud, "supabase-access-token", format!("sbp_{}", r.hex(40)));
    let srk = c.s(Cloud, "supabase-service-role-key", supabase_service_role(r));
    let t = format!("NEXT_PUBLIC_SUPABASE_URL=https://{}.supabase.co\nSUPABASE_ACCESS_TOKEN={sbp}\nSUPABASE_SERVICE_ROLE_KEY={srk}\n", r.s("abcdefghijklmnopqrstuvwxyz", 20));
    c.file("web/.env.local", t);
    // PlanetScale
    let pw = r.b64url(43);
    let url = c.s(
        Cloud,
        "planetscale-password",
        format!(
            "DATABASE_URL=\"mysql://{}:pscale_pw_{pw}@aws.connect.psdb.cloud/catalog?sslaccept=strict\"",
            r.s(LOWER_ALNUM, 12)
        ),
    );
    let tk = c.s(
        Cloud,
        "planetscale-service-token",
        format!(
            "PLANETSCALE_SERVICE_TOKEN_ID={}\nPLANETSCALE_SERVICE_TOKEN=pscale_tkn_{}",
            r.s(LOWER_ALNUM, 12),
            r.b64url(43)
        ),
    );
    let t = format!("PLANETSCALE_ORG=acme\n{tk}\n{url}\n");
    c.file("services/catalog/.env.production", t);
}

pub fn scm(c: &mut Corpus, r: &mut Rng) {
    // GitHub classic PAT in a workflow, gh CLI hosts.yml with gho_, app tokens in scripts
    let ghp = c.s(SourceControlCi, "github-pat", r.crc_token("ghp_"));
    let t = format!("name: release\non:\n  push:\n    tags: ['v*']\njobs:\n  release:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: gh release create \"$GITHUB_REF_NAME\" --generate-notes\n        env:\n          GH_TOKEN: {ghp}\n");
    c.file(".github/workflows/release.yml", t);
    let gho = c.s(SourceControlCi, "github-oauth-token", r.crc_token("gho_"));
    let t = format!("github.com:\n    users:\n        acme-bot:\n            oauth_token: {gho}\n    git_protocol: https\n    user: acme-bot\n");
    c.file("ops/gh/hosts.yml", t);
    let ghu = c.s(SourceControlCi, "github-user-to-server-token", r.crc_token("ghu_"));
    let ghr = c.s(SourceControlCi, "github-refresh-token", format!("ghr_{}", r.alnum(76)));
    let t = format!("{{\n  \"app_slug\": \"acme-review-bot\",\n  \"access_token\": \"{ghu}\",\n  \"expires_in\": 28800,\n  \"refresh_token\": \"{ghr}\",\n  \"refresh_token_expires_in\": 15811200,\n  \"token_type\": \"bearer\"\n}}\n");
    c.file("tools/review-bot/.token-cache.json", t);
    let ghs = c.s(SourceControlCi, "github-app-installation-token", r.crc_token("ghs_"));
    let t = format!("#!/bin/sh\n# mirror the docs repo with the installation token\nGITHUB_TOKEN={ghs}\ngit clone \"https://x-access-token:${{GITHUB_TOKEN}}@github.com/acme/docs.git\" /tmp/docs\n");
    c.file("tools/mirror-docs.sh", t);
    let fg = c.s(SourceControlCi, "github-fine-grained-pat", github_fine_grained(r));
    let t = format!("package release\n\nimport \"github.com/google/go-github/v62/github\"\n\n// TODO: move to the secret manager before launch\nconst githubToken = \"{fg}\"\n\nfunc Client() *github.Client {{\n\treturn github.NewClient(nil).WithAuthToken(githubToken)\n}}\n");
    c.file("tools/releaser/release/client.go", t);
    // GitLab family
    let glpat = c.s(SourceControlCi, "gitlab-pat", format!("glpat-{}", r.b64url(20)));
    let t = format!("[global]\ndefault = acme\nssl_verify = true\ntimeout = 5\n\n[acme]\nurl = https://gitlab.acme.test\nprivate_token = {glpat}\napi_version = 4\n");
    c.file("ops/gitlab/python-gitlab.cfg", t);
    let glrt = c.s(SourceControlCi, "gitlab-runner-token", format!("glrt-{}", r.b64url(20)));
    let t = format!("concurrent = 4\ncheck_interval = 0\n\n[[runners]]\n  name = \"docker-builder-01\"\n  url = \"https://gitlab.acme.test\"\n  id = 41\n  token = \"{glrt}\"\n  executor = \"docker\"\n  [runners.docker]\n    image = \"alpine:3.20\"\n    privileged = true\n");
    c.file("ops/gitlab-runner/config.toml", t);
    let glptt = c.s(SourceControlCi, "gitlab-pipeline-trigger-token", format!("glptt-{}", r.hex(40)));
    let t = format!("#!/bin/bash\ncurl -X POST --fail \\\n  -F token={glptt} \\\n  -F ref=main \\\n  https://gitlab.acme.test/api/v4/projects/118/trigger/pipeline\n");
    c.file("tools/trigger-downstream.sh", t);
    let gldt = c.s(SourceControlCi, "gitlab-deploy-token", format!("gldt-{}", r.b64url(20)));
    let t = format!("variables:\n  DOCKER_DRIVER: overlay2\n  REGISTRY_USER: gitlab+deploy-token-7\n  REGISTRY_PASSWORD: {gldt}\n\nbuild:\n  stage: build\n  script:\n    - docker login -u \"$REGISTRY_USER\" -p \"$REGISTRY_PASSWORD\" registry.acme.test\n    - docker build -t registry.acme.test/acme/api:$CI_COMMIT_SHA .\n");
    c.file(".gitlab-ci.yml", t);
    // Bitbucket app password, CircleCI, Buildkite, Travis, Sourcegraph
    let atbb = c.s(SourceControlCi, "bitbucket-app-password", format!("ATBB{}{}", r.alnum(24), r.s(UPPER_HEX, 8)));
    let cci = c.s(SourceControlCi, "circleci-pat", format!("CCIPAT_{}_{}", r.alnum(22), r.hex(40)));
    let bk = c.s(SourceControlCi, "buildkite-token", format!("bkua_{}", r.hex(40)));
    let tr = c.s(SourceControlCi, "travis-token", r.b64url(22));
    let sg = c.s(SourceControlCi, "sourcegraph-token", format!("sgp_{}_{}", r.hex(16), r.hex(40)));
    let t = format!("# CI credentials for the migration scripts (tools/ci-migrate)\nBITBUCKET_USERNAME=acme-ci\nBITBUCKET_APP_PASSWORD={atbb}\nCIRCLECI_TOKEN={cci}\nBUILDKITE_API_TOKEN={bk}\nTRAVIS_API_TOKEN={tr}\nSRC_ENDPOINT=https://sourcegraph.acme.test\nSRC_ACCESS_TOKEN={sg}\n");
    c.file("tools/ci-migrate/.env", t);
    // JFrog: API key in Maven settings.xml, identity token in a .jfrog config
    let jk = c.s(SourceControlCi, "jfrog-api-key", format!("AKCp{}", r.alnum(69)));
    let t = format!("<settings>\n  <servers>\n    <server>\n      <id>acme-releases</id>\n      <username>ci-publisher</username>\n      <password>{jk}</password>\n    </server>\n  </servers>\n</settings>\n");
    c.file("services/ledger/.mvn/settings.xml", t);
    let jid = c.s(SourceControlCi, "jfrog-identity-token", format!("cmVmdGtuOjAxOjE3{}", r.alnum(48)));
    let t = format!("artifactory_url=https://acme.jfrog.io/artifactory\nartifactory_user=ci-publisher\nartifactory_access_token={jid}\n");
    c.file("tools/gradle/gradle.properties", t);
    // Docker Hub PAT in a Makefile
    let dckr = c.s(SourceControlCi, "dockerhub-pat", format!("dckr_pat_{}", r.b64url(27)));
    let t = format!("IMAGE ?= acme/api\nTAG ?= $(shell git rev-parse --short HEAD)\n\npush:\n\techo {dckr} | docker login -u acmebuild --password-stdin\n\tdocker push $(IMAGE):$(TAG)\n");
    c.file("services/api/Makefile", t);
    // npm token in .npmrc, PyPI in .pypirc, RubyGems, NuGet, crates.io, Clojars
    let npm = c.s(SourceControlCi, "npm-token", format!("//registry.npmjs.org/:_authToken={}", r.crc_token("npm_")));
    let t = format!("@acme:registry=https://registry.npmjs.org/\n{npm}\nsave-exact=true\n");
    c.file("web/.npmrc", t);
    let npm2 = c.s(SourceControlCi, "npm-token", r.crc_token("npm_"));
    let t = format!("name: publish-sdk\non:\n  release:\n    types: [published]\njobs:\n  publish:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/setup-node@v4\n        with:\n          node-version: 20\n          registry-url: https://registry.npmjs.org\n      - run: npm publish --access public\n        env:\n          NODE_AUTH_TOKEN: {npm2}\n");
    c.file("sdk/js/.github/workflows/publish.yml", t);
    let pypi_tok = c.s(SourceControlCi, "pypi-token", pypi(r));
    let t = format!("[distutils]\nindex-servers =\n    pypi\n\n[pypi]\nusername = __token__\npassword = {pypi_tok}\n");
    c.file("sdk/python/.pypirc", t);
    let rg = c.s(SourceControlCi, "rubygems-api-key", format!("rubygems_{}", r.hex(48)));
    let t = format!("---\n:rubygems_api_key: {rg}\n");
    c.file("sdk/ruby/.gem/credentials", t);
    let nu = c.s(SourceControlCi, "nuget-api-key", format!("oy2{}", r.s(LOWER_ALNUM, 43)));
    let t = format!("param([string]$Version)\n$ErrorActionPreference = 'Stop'\ndotnet pack -c Release /p:Version=$Version\ndotnet nuget push \"bin/Release/Acme.Client.$Version.nupkg\" --api-key {nu} --source https://api.nuget.org/v3/index.json\n");
    c.file("sdk/dotnet/publish.ps1", t);
    let cio = c.s(SourceControlCi, "crates-io-token", format!("cio{}", r.alnum(32)));
    let t = format!("[registry]\ntoken = \"{cio}\"\n");
    c.file("sdk/rust/.cargo/credentials.toml", t);
    let clj = c.s(SourceControlCi, "clojars-token", format!("CLOJARS_{}", r.hex(60)));
    let t = format!("{{:auth {{:repository-auth {{#\"clojars\" {{:username \"acme-ci\"\n                                   :password \"{clj}\"}}}}}}}}\n");
    c.file("sdk/clojure/profiles.clj", t);
}
