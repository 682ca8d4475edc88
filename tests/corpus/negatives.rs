//! Monorepo: hard negatives. Nothing here is a secret; any finding on these lines is a false positive.
use super::model::{Corpus, Family::*};
use super::rng::*;
use super::tokens::*;

pub fn negatives(c: &mut Corpus, r: &mut Rng) {
    // Documented AWS example keys, in docs and in a test
    let a = c.n(Some(Cloud), "aws-example-key-id", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE");
    let b = c.n(Some(Cloud), "aws-example-secret", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    c.file("docs/setup/aws.md", format!("# AWS access\n\nPut your keys in `~/.aws/credentials`:\n\n```ini\n[default]\n{a}\n{b}\n```\n\nNever commit this file.\n"));
    let a = c.n(Some(Cloud), "aws-example-key-id", "AWS_ACCESS_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\"");
    let b =
        c.n(Some(Cloud), "aws-example-secret", "AWS_SECRET_ACCESS_KEY = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"");
    c.file("services/reports/tests/test_storage.py", format!("from reports.storage import s3_client\n\n# documented AWS example credentials (see AWS docs); moto intercepts every call\n{a}\n{b}\n\n\ndef test_client(monkeypatch):\n    monkeypatch.setenv(\"AWS_ACCESS_KEY_ID\", AWS_ACCESS_KEY_ID)\n    assert s3_client() is not None\n"));

    // Placeholders of every kind, in a .env.example and friends
    let mut lines = Vec::new();
    for (k, v, fam) in [
        ("STRIPE_SECRET_KEY", "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", Some(PaymentsSaas)),
        ("OPENAI_API_KEY", "<your-api-key>", Some(Ai)),
        ("GITHUB_TOKEN", "${GITHUB_TOKEN}", Some(SourceControlCi)),
        ("DATABASE_URL", "postgres://user:password@localhost:5432/app", Some(ConfigCredentials)),
        ("DB_PASSWORD", "changeme", Some(ConfigCredentials)),
        ("SLACK_BOT_TOKEN", "your_token_here", Some(Messaging)),
        ("AWS_SECRET_ACCESS_KEY", "<AWS_SECRET_ACCESS_KEY>", Some(Cloud)),
        ("SENDGRID_API_KEY", "SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", Some(Messaging)),
        ("JWT_SECRET", "replace-me", Some(ConfigCredentials)),
        ("ANTHROPIC_API_KEY", "sk-ant-api03-...", Some(Ai)),
        ("REDIS_PASSWORD", "", Some(ConfigCredentials)),
        ("HF_TOKEN", "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", Some(Ai)),
    ] {
        lines.push(c.n(fam, "placeholder", format!("{k}={v}")));
    }
    c.file(".env.example", format!("# copy to .env and fill in\n{}\n", lines.join("\n")));
    let a = c.n(Some(SourceControlCi), "gha-secret-reference", "          GH_TOKEN: ${{ secrets.GITHUB_TOKEN }}");
    let b = c.n(
        Some(Cloud),
        "gha-secret-reference",
        "          AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}",
    );
    let d = c.n(Some(ConfigCredentials), "helm-template", "          DB_PASSWORD: {{ .Values.db.password | quote }}");
    c.file(".github/workflows/ci.yml", format!("name: ci\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: make test\n        env:\n{a}\n{b}\n      - run: echo done\n        env:\n{d}\n"));
    // env references in code
    let refs = [
        ("web/src/server/env.ts", "typescript", "export const stripeKey = process.env.STRIPE_KEY;\nexport const openaiKey = process.env.OPENAI_API_KEY ?? '';\nexport const dbPassword = process.env['DB_PASSWORD'];"),
        ("services/reports/reports/env.py", "python", "import os\n\nSECRET_KEY = os.environ[\"DJANGO_SECRET_KEY\"]\nDB_PASSWORD = os.getenv(\"DB_PASSWORD\")\napi_token = os.environ.get(\"API_TOKEN\", \"\")"),
        ("services/gateway/config/env.go", "go", "package config\n\nimport \"os\"\n\nvar Password = os.Getenv(\"DB_PASSWORD\")\nvar Token = os.Getenv(\"SLACK_BOT_TOKEN\")"),
        ("ops/deploy/run.sh", "shell", "#!/bin/sh\npsql \"postgres://app:$DB_PASSWORD@db/app\" -c 'select 1'\ncurl -H \"Authorization: Bearer $API_TOKEN\" https://api.acme.test/ping\nexport AWS_SECRET_ACCESS_KEY=\"$(vault kv get -field=secret aws/ci)\""),
        ("apps/storefront/config/database.yml", "erb", "production:\n  adapter: postgresql\n  password: <%= ENV['DATABASE_PASSWORD'] %>\n  url: <%= ENV.fetch('DATABASE_URL') %>"),
        ("services/ledger/src/main/resources/application.yml", "spring", "spring:\n  datasource:\n    password: ${DB_PASSWORD}\n    username: ${DB_USER:ledger}\nstripe:\n  api-key: ${STRIPE_SECRET_KEY}"),
        ("infra/terraform/aws/variables.tf", "terraform", "variable \"db_password\" {\n  type      = string\n  sensitive = true\n}\n\nlocals {\n  password = var.db_password\n}"),
    ];
    for (path, kind, body) in refs {
        let lines: Vec<String> = body
            .lines()
            .map(|l| {
                if l.contains('$')
                    || l.contains("env")
                    || l.contains("var.")
                    || l.contains("Getenv")
                    || l.contains("ENV")
                {
                    c.n(Some(ConfigCredentials), &format!("env-reference-{kind}"), l)
                } else {
                    l.to_string()
                }
            })
            .collect();
        c.file(path, lines.join("\n"));
    }
    // GitHub / npm tokens with a wrong checksum
    let mut lines = vec!["// tokens that fail the CRC32 check must be rejected".to_string()];
    for (i, p) in ["ghp_", "gho_", "ghu_", "ghs_", "npm_"].iter().enumerate() {
        let t = r.crc_token_bad(p);
        lines.push(c.n(Some(SourceControlCi), "crc-mismatch-token", format!("const sample{i} = \"{t}\";")));
    }
    c.file("tools/review-bot/src/redact.test.ts", lines.join("\n"));
    let bad = r.crc_token_bad("ghp_");
    let l = c.n(Some(SourceControlCi), "crc-mismatch-token", format!("token: {bad}"));
    c.file(
        "docs/examples/gh-hosts.example.yml",
        format!("# sample output of `gh auth status --show-token` (revoked, checksum scrambled)\n{l}\n"),
    );
    // hashes and ids
    let mut lines = vec!["# Release checksums".to_string(), String::new()];
    for name in [
        "keytrail-x86_64-linux.tar.gz",
        "keytrail-aarch64-linux.tar.gz",
        "keytrail-x86_64-darwin.tar.gz",
        "keytrail-windows.zip",
    ] {
        lines.push(c.n(None, "sha256", format!("{}  {name}", r.hex(64))));
    }
    lines.push(c.n(None, "sha512", format!("sha512: {}", r.hex(128))));
    lines.push(c.n(None, "sha1", format!("sha1: {}", r.hex(40))));
    c.file("docs/releases/CHECKSUMS.md", lines.join("\n"));
    let mut lines = vec!["# Changelog".to_string(), String::new()];
    for _ in 0..5 {
        let sha = r.hex(40);
        lines.push(c.n(
            None,
            "git-object-id",
            format!("- fix: retry on 503 ([{}](https://git.acme.test/acme/mono/commit/{sha}))", &sha[..7]),
        ));
    }
    lines.push(c.n(None, "git-object-id", format!("Reverts commit {}.", r.hex(40))));
    c.file("CHANGELOG.md", lines.join("\n"));
    let mut lines = vec!["id,tenant_id,created_at".to_string()];
    for i in 0..6 {
        lines.push(c.n(None, "uuid", format!("{},{},2025-01-0{}T10:00:00Z", r.uuid(), r.uuid(), i + 1)));
    }
    c.file("data/fixtures/tenants.csv", lines.join("\n"));
    let l = c.n(
        Some(Cloud),
        "uuid",
        format!("  request_id: \"{}\"\n  trace_id: \"{}\"\n  tenant_id: {}", r.uuid(), r.hex(32), r.uuid()),
    );
    c.file("services/events/testdata/event.yaml", format!("event:\n{l}\n  type: order.created\n"));
    // lockfiles
    let mut lock = String::from("{\n  \"name\": \"web\",\n  \"lockfileVersion\": 3,\n  \"packages\": {\n");
    for (i, pkg) in ["react", "react-dom", "scheduler", "loose-envify", "js-tokens", "stripe", "qs", "side-channel"]
        .iter()
        .enumerate()
    {
        let integ = c.n(None, "lockfile-integrity", format!("      \"integrity\": \"sha512-{}==\",", r.b64(86)));
        lock.push_str(&format!("    \"node_modules/{pkg}\": {{\n      \"version\": \"{}.{}.0\",\n      \"resolved\": \"https://registry.npmjs.org/{pkg}/-/{pkg}-{}.{}.0.tgz\",\n{integ}\n      \"license\": \"MIT\"\n    }}{}\n", i + 1, i, i + 1, i, if i < 7 { "," } else { "" }));
    }
    lock.push_str("  }\n}\n");
    c.file("web/package-lock.json", lock);
    let mut y =
        String::from("# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.\n# yarn lockfile v1\n\n");
    for pkg in ["lodash", "axios", "follow-redirects", "form-data"] {
        let integ = c.n(None, "lockfile-integrity", format!("  integrity sha512-{}==", r.b64(86)));
        y.push_str(&format!("{pkg}@^4.0.0:\n  version \"4.17.21\"\n  resolved \"https://registry.yarnpkg.com/{pkg}/-/{pkg}-4.17.21.tgz#{}\"\n{integ}\n\n", r.hex(40)));
    }
    c.file("sdk/js/yarn.lock", y);
    let mut gs = String::new();
    for m in [
        "github.com/redis/go-redis/v9 v9.5.1",
        "github.com/google/go-github/v62 v62.0.0",
        "golang.org/x/crypto v0.24.0",
        "golang.org/x/sys v0.21.0",
    ] {
        gs.push_str(&c.n(None, "go-sum", format!("{m} h1:{}=\n{m}/go.mod h1:{}=", r.b64(43), r.b64(43))));
        gs.push('\n');
    }
    c.file("services/gateway/go.sum", gs);
    let mut cl = String::from("version = 4\n\n");
    for p in ["aho-corasick", "memchr", "regex", "serde"] {
        let ck = c.n(None, "cargo-lock-checksum", format!("checksum = \"{}\"", r.hex(64)));
        cl.push_str(&format!("[[package]]\nname = \"{p}\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n{ck}\n\n"));
    }
    c.file("sdk/rust/Cargo.lock", cl);
    let mut po = String::new();
    for p in ["django", "celery", "psycopg2-binary"] {
        let h = c.n(
            None,
            "poetry-lock-hash",
            format!("    {{file = \"{p}-5.0.6-py3-none-any.whl\", hash = \"sha256:{}\"}},", r.hex(64)),
        );
        po.push_str(&format!("[[package]]\nname = \"{p}\"\nversion = \"5.0.6\"\nfiles = [\n{h}\n]\n\n"));
    }
    po.push_str(&format!(
        "[metadata]\nlock-version = \"2.0\"\npython-versions = \"^3.11\"\n{}\n",
        c.n(None, "poetry-lock-hash", format!("content-hash = \"{}\"", r.hex(64)))
    ));
    c.file("services/reports/poetry.lock", po);
    // base64 image data and a minified bundle
    let img = c.n(
        None,
        "data-uri-image",
        format!(
            ".logo {{ background-image: url(\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{}==\"); }}",
            r.b64(600)
        ),
    );
    c.file("web/src/styles/logo.css", format!("/* inlined to save a request */\n{img}\n"));
    let mut js = String::from("!function(e){");
    for _ in 0..40 {
        js.push_str(&format!(
            "var {}=\"{}\",{}=function(t){{return t[\"{}\"]}};",
            r.s(LETTERS, 2),
            r.b64url(40),
            r.s(LETTERS, 3),
            r.alnum(32)
        ));
    }
    js.push_str("}(window);");
    let js = c.n(None, "minified-bundle", js);
    c.file("web/dist/assets/index-4f9a2c1b.js", js);
    // public keys and certificates
    let pubk = c.n(
        Some(KeysTokens),
        "ssh-public-key",
        format!("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ{} deploy@acme", r.b64(520)),
    );
    let ed =
        c.n(Some(KeysTokens), "ssh-public-key", format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{} ops@acme", r.b64(43)));
    c.file("ops/ssh/authorized_keys", format!("{pubk}\n{ed}\n"));
    let pem_pub = c.n(
        Some(KeysTokens),
        "public-key-pem",
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            r.pem_body("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", 392, 64, false).join("\n")
        ),
    );
    c.file("services/identity/keys/jwt-signing.pub.pem", pem_pub);
    let cert = c.n(
        Some(KeysTokens),
        "certificate",
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
            r.pem_body("MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ", 1200, 64, false).join("\n")
        ),
    );
    c.file("services/api/certs/server.crt", cert);
    // encrypted values
    let vault = c.n(
        Some(ConfigCredentials),
        "ansible-vault",
        format!("$ANSIBLE_VAULT;1.1;AES256\n{}", (0..8).map(|_| r.hex(80)).collect::<Vec<_>>().join("\n")),
    );
    c.file("ops/ansible/group_vars/prod/vault.yml", vault);
    let s1 = c.n(
        Some(ConfigCredentials),
        "sops-encrypted",
        format!("    password: ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]", r.b64(24), r.b64(43), r.b64(22)),
    );
    let s2 = c.n(
        Some(PaymentsSaas),
        "sops-encrypted",
        format!("    stripe_key: ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]", r.b64(140), r.b64(43), r.b64(22)),
    );
    c.file("ops/sops/secrets.prod.yaml", format!("db:\n{s1}\npayments:\n{s2}\nsops:\n    age:\n        - recipient: age1{}\n    lastmodified: \"2025-02-11T09:15:02Z\"\n    mac: ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]\n    version: 3.9.0\n", r.s(BECH32, 58), r.b64(86), r.b64(43), r.b64(22)));
    let ss = c.n(
        Some(ConfigCredentials),
        "sealed-secret",
        format!("    DB_PASSWORD: AgB{}\n    API_TOKEN: AgC{}", r.b64(700), r.b64(700)),
    );
    c.file("k8s/prod/ledger-sealed.yaml", format!("apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: ledger\n  namespace: prod\nspec:\n  encryptedData:\n{ss}\n"));
    // regexes describing token formats, field names, i18n
    let mut lines = vec!["// Patterns used by the log redactor.".to_string()];
    for (fam, rx) in [
        (SourceControlCi, "  github: /ghp_[A-Za-z0-9]{36}/,"),
        (PaymentsSaas, "  stripe: /sk_live_[0-9a-zA-Z]{24,99}/,"),
        (Cloud, "  aws: /AKIA[0-9A-Z]{16}/,"),
        (Messaging, "  slack: /xox[baprs]-[0-9a-zA-Z-]{10,72}/,"),
        (KeysTokens, "  pem: /-----BEGIN [A-Z ]*PRIVATE KEY-----/,"),
    ] {
        lines.push(c.n(Some(fam), "regex-describing-token", rx));
    }
    c.file("services/gateway/src/redact.js", format!("module.exports = {{\n{}\n}};\n", lines[1..].join("\n")));
    let f1 = c.n(Some(ConfigCredentials), "field-name", "PASSWORD_FIELD = \"password\"");
    let f2 = c.n(Some(ConfigCredentials), "field-name", "TOKEN_HEADER = \"X-Api-Token\"");
    let f3 = c.n(Some(ConfigCredentials), "field-name", "SECRET_KEY_SETTING = \"SECRET_KEY\"");
    c.file("services/reports/reports/constants.py", format!("{f1}\n{f2}\n{f3}\n"));
    let f4 = c.n(Some(ConfigCredentials), "field-name", "      secretName: edge-tls");
    let f5 = c.n(
        Some(ConfigCredentials),
        "field-name",
        "                  key: password\n                  name: ledger-db-credentials",
    );
    c.file("k8s/prod/ingress.yaml", format!("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: edge\nspec:\n  tls:\n    - hosts: [api.acme.test]\n{f4}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ledger\nspec:\n  template:\n    spec:\n      containers:\n        - name: ledger\n          env:\n            - name: DB_PASSWORD\n              valueFrom:\n                secretKeyRef:\n{f5}\n"));
    let mut i18n = vec![];
    for (k, v) in [
        ("login.password", "Password:"),
        ("settings.apiKey", "Enter your API key"),
        ("settings.token", "Personal access token"),
        ("errors.badPassword", "The password you entered is incorrect"),
        ("settings.secret", "Client secret (keep it safe)"),
    ] {
        i18n.push(c.n(Some(ConfigCredentials), "i18n-string", format!("  \"{k}\": \"{v}\",")));
    }
    c.file("web/src/i18n/en.json", format!("{{\n{}\n  \"ok\": \"OK\"\n}}\n", i18n.join("\n")));
    let form = c.n(
        Some(ConfigCredentials),
        "html-form-field",
        "  <input type=\"password\" name=\"password\" placeholder=\"Password\" autocomplete=\"current-password\">",
    );
    c.file(
        "web/public/login.html",
        format!(
            "<form method=\"post\" action=\"/login\">\n  <input type=\"text\" name=\"username\">\n{form}\n</form>\n"
        ),
    );
    // test vectors clearly marked fake
    let tv1 = c.n(Some(ConfigCredentials), "test-fixture", "    password = \"fake-password-for-tests\"");
    let tv2 = c.n(Some(ConfigCredentials), "test-fixture", "    api_key = \"test_api_key_not_real\"");
    let tv3 = c.n(Some(ConfigCredentials), "test-fixture", "    token = \"dummy-token\"");
    c.file("services/partner-api/tests/test_client.py", format!("def test_login(client):\n    # obviously fake credentials for the mock server\n{tv1}\n{tv2}\n{tv3}\n    assert client.login(\"alice\", password).ok\n"));
    // publishable / public keys
    let pk = c.n(
        Some(PaymentsSaas),
        "stripe-publishable-key",
        format!("export const STRIPE_PUBLISHABLE_KEY = 'pk_live_51{}';", r.alnum(97)),
    );
    let mbp = c.n(Some(PaymentsSaas), "mapbox-public-token", format!("mapboxgl.accessToken = '{}';", mapbox_public(r)));
    c.file("web/src/client/keys.ts", format!("// publishable keys: safe to ship to the browser\n{pk}\n{mbp}\n"));
    // bcrypt / argon hashes
    let bc = c.n(
        Some(ConfigCredentials),
        "bcrypt-hash",
        format!(
            "  - username: admin\n    password_hash: \"$2b$12${}\"",
            r.s("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 53)
        ),
    );
    let ar = c.n(
        Some(ConfigCredentials),
        "argon2-hash",
        format!("  - username: ops\n    password_hash: \"$argon2id$v=19$m=65536,t=3,p=4${}${}\"", r.b64(22), r.b64(43)),
    );
    c.file("services/identity/seed/users.yaml", format!("users:\n{bc}\n{ar}\n"));
    let ht = c.n(
        Some(ConfigCredentials),
        "htpasswd-hash",
        format!("metrics:$2y$10${}", r.s("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 53)),
    );
    c.file("ops/nginx/.htpasswd", ht);
    // high-entropy non-secrets: content hashes, SRI, nonces in docs
    let sri = c.n(
        None,
        "sri-hash",
        format!(
            "<script src=\"https://cdn.acme.test/app.js\" integrity=\"sha384-{}\" crossorigin=\"anonymous\"></script>",
            r.b64(64)
        ),
    );
    c.file(
        "web/public/index.html",
        format!("<!doctype html>\n<html>\n<head>\n{sri}\n</head>\n<body></body>\n</html>\n"),
    );
    let dock = c.n(None, "docker-digest", format!("FROM node:20-alpine@sha256:{}", r.hex(64)));
    c.file("web/Dockerfile", format!("{dock}\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\n"));
    let tfl = c.n(None, "terraform-lock-hash", format!("    \"h1:{}=\",\n    \"zh:{}\",", r.b64(43), r.hex(64)));
    c.file("infra/terraform/aws/.terraform.lock.hcl", format!("provider \"registry.terraform.io/hashicorp/aws\" {{\n  version = \"5.54.1\"\n  hashes = [\n{tfl}\n  ]\n}}\n"));
    // token-shaped identifiers that are not credentials
    let ids = c.n(
        None,
        "non-secret-ids",
        format!(
            "  stripe_price: price_1{}\n  stripe_product: prod_{}\n  slack_channel: C{}\n  github_run: {}",
            r.alnum(23),
            r.alnum(14),
            r.s(UPPER_ALNUM, 10),
            r.digits(10)
        ),
    );
    c.file("services/payouts/config/catalog.yaml", format!("plans:\n{ids}\n"));
    // docs that explain token formats with redacted samples
    let d1 = c.n(
        Some(SourceControlCi),
        "doc-redacted-sample",
        "Tokens look like `ghp_` followed by 36 characters, e.g. `ghp_************************************`.",
    );
    let d2 =
        c.n(Some(Ai), "doc-redacted-sample", "An OpenAI key starts with `sk-proj-`; we log it as `sk-proj-…4f2a`.");
    let d3 = c.n(
        Some(Messaging),
        "doc-redacted-sample",
        "Incoming webhooks: `https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX`.",
    );
    c.file("docs/security/tokens.md", format!("# Token handling\n\n{d1}\n\n{d2}\n\n{d3}\n"));
    let pw = c.n(
        Some(ConfigCredentials),
        "password-policy",
        "  password:\n    min_length: 12\n    require_symbols: true\n    max_age_days: 90",
    );
    c.file("services/identity/config/policy.yaml", format!("policy:\n{pw}\n"));
    let nulls = c.n(
        Some(ConfigCredentials),
        "empty-or-null",
        "    \"password\": null,\n    \"token\": \"\",\n    \"apiKey\": \"REDACTED\",\n    \"secret\": \"********\"",
    );
    c.file("services/partner-api/config/default.json", format!("{{\n  \"partner\": {{\n{nulls}\n  }}\n}}\n"));
}
