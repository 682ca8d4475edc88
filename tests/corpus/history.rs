//! The history repository: secrets committed and later removed or rotated, one only on an
//! unmerged branch. Labels name the path and line in the commit that introduced the value.
use std::path::{Path, PathBuf};

use super::model::{Corpus, Family::*};
use super::rng::*;
use super::tokens::*;

pub struct History {
    dir: PathBuf,
    pub c: Corpus,
}

impl History {
    fn git(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .current_dir(&self.dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Dev Eloper")
            .env("GIT_AUTHOR_EMAIL", "dev@acme.test")
            .env("GIT_COMMITTER_NAME", "Dev Eloper")
            .env("GIT_COMMITTER_EMAIL", "dev@acme.test")
            .env("GIT_AUTHOR_DATE", "2025-04-01T09:00:00+00:00")
            .env("GIT_COMMITTER_DATE", "2025-04-01T09:00:00+00:00")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn write(&mut self, path: &str, text: &str) {
        let clean = self.c.take(path, text);
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, clean).unwrap();
    }

    fn rm(&mut self, path: &str) {
        std::fs::remove_file(self.dir.join(path)).unwrap();
    }

    fn commit(&mut self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        let sha = self.git(&["rev-parse", "HEAD"]);
        for l in self.c.labels.iter_mut().filter(|l| l.commit.is_none()) {
            l.commit = Some(sha.clone());
        }
        sha
    }
}

pub fn build(dir: &Path, r: &mut Rng) -> History {
    let mut h = History { dir: dir.to_path_buf(), c: Corpus::new("history") };
    h.git(&["init", "-q", "-b", "main"]);

    // 1: initial project, with negatives that stay at HEAD
    let neg1 = h.c.n(Some(Cloud), "aws-example-key-id", "# e.g. AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE");
    let neg2 = h.c.n(Some(ConfigCredentials), "env-reference-python", "DB_PASSWORD = os.environ[\"DB_PASSWORD\"]");
    h.write("README.md", &format!("# orders\n\nConfigure with environment variables.\n\n{neg1}\n"));
    h.write(
        "orders/settings.py",
        &format!("import os\n\nDEBUG = False\n{neg2}\nALLOWED_HOSTS = [\"orders.acme.test\"]\n"),
    );
    h.write(".gitignore", "__pycache__/\n*.pyc\n");
    h.commit("Initial commit");

    // 2: a .env with several secrets is committed by mistake
    let (id, sec) = (aws_key_id(r, "AKIA"), aws_secret(r));
    let aws = h.c.s(Cloud, "aws-access-key-pair", format!("AWS_ACCESS_KEY_ID={id}\nAWS_SECRET_ACCESS_KEY={sec}"));
    let sk = h.c.s(PaymentsSaas, "stripe-secret-key", format!("STRIPE_SECRET_KEY={}", stripe(r, "sk_live_")));
    let db = h.c.s(
        ConfigCredentials,
        "postgres-url",
        format!("DATABASE_URL=postgresql://orders:{}@orders-db.internal:5432/orders", r.password()),
    );
    let sl = h.c.s(Messaging, "slack-bot-token", format!("SLACK_BOT_TOKEN={}", slack_bot(r)));
    h.write(".env", &format!("APP_ENV=production\n{aws}\n{sk}\n{db}\n{sl}\n"));
    h.commit("Add production settings");

    // 3: removed, and .env ignored
    h.rm(".env");
    h.write(".gitignore", "__pycache__/\n*.pyc\n.env\n");
    h.commit("Remove .env, ignore it");

    // 4: a deploy key and a CI file with a GitHub token
    let key = h.c.s(KeysTokens, "private-key-openssh", pem(r, "openssh"));
    h.write("deploy/id_ed25519", &key);
    let gh = h.c.s(SourceControlCi, "github-pat", r.crc_token("ghp_"));
    h.write(
        "ci/release.sh",
        &format!("#!/bin/sh\nset -e\nexport GITHUB_TOKEN={gh}\ngh release create \"$1\" dist/*\n"),
    );
    h.commit("Add deploy tooling");

    // 5: the key is deleted; the token moves to the CI secret store
    h.rm("deploy/id_ed25519");
    let neg3 = h.c.n(Some(SourceControlCi), "env-reference-shell", "export GITHUB_TOKEN=\"${GH_RELEASE_TOKEN:?}\"");
    h.write(
        "ci/release.sh",
        &format!(
            "#!/bin/sh\nset -e\n# token comes from the CI secret store\n{neg3}\ngh release create \"$1\" dist/*\n"
        ),
    );
    h.commit("Use the CI secret for releases; drop deploy key");

    // 6: config with an OpenAI key and a SendGrid key, rotated in 7
    let oa = h.c.s(Ai, "openai-project-key", openai_proj(r));
    let sg = h.c.s(Messaging, "sendgrid-api-key", sendgrid(r));
    h.write("orders/integrations.py", &format!("OPENAI_API_KEY = \"{oa}\"\nSENDGRID_API_KEY = \"{sg}\"\n"));
    h.commit("Integrations: OpenAI summaries and SendGrid receipts");

    // 7: rotation: both keys replaced by new values, one line lower (a comment was added);
    // the new values stay at HEAD
    let oa2 = h.c.s(Ai, "openai-project-key", openai_proj(r));
    let sg2 = h.c.s(Messaging, "sendgrid-api-key", sendgrid(r));
    h.write("orders/integrations.py", &format!("# rotated 2025-04-01 after the leak report\n# see INC-2291\n\nOPENAI_API_KEY = \"{oa2}\"\nSENDGRID_API_KEY = \"{sg2}\"\n"));
    h.commit("Rotate integration keys");

    // 8: docker-compose with a DB password and Kubernetes secret; then scrubbed in 9
    let pw = h.c.s(ConfigCredentials, "generic-password-yaml", format!("      POSTGRES_PASSWORD: {}", r.password()));
    h.write(
        "docker-compose.yml",
        &format!("services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_USER: orders\n{pw}\n"),
    );
    let b = h.c.s(
        ConfigCredentials,
        "k8s-secret-base64-password",
        format!("  password: {}", b64encode(r.password().as_bytes())),
    );
    let tg = h.c.s(Messaging, "telegram-bot-token", format!("  TELEGRAM_TOKEN: {}", b64encode(telegram(r).as_bytes())));
    h.write("k8s/secret.yaml", &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: orders\ndata:\n{b}\n{tg}\n"));
    h.commit("Local compose and k8s secret");
    let neg4 = h.c.n(Some(ConfigCredentials), "env-reference-compose", "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}");
    h.write("docker-compose.yml", &format!("services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_USER: orders\n      # set in .env (not committed)\n{neg4}\n"));
    h.rm("k8s/secret.yaml");
    h.commit("Move secrets out of the repo");

    // 10: tokens in various files, removed in 11
    let npm = h.c.s(SourceControlCi, "npm-token", format!("//registry.npmjs.org/:_authToken={}", r.crc_token("npm_")));
    h.write("web/.npmrc", &format!("{npm}\n"));
    let gcp = h.c.s(Cloud, "gcp-service-account-json", gcp_sa_json(r, "orders-prod-1138", "orders-uploader"));
    h.write("deploy/gcp-key.json", &gcp);
    let hf = h.c.s(Ai, "huggingface-token", format!("HF_TOKEN={}", format_args!("hf_{}", r.s(LETTERS, 34))));
    let dd = h.c.s(PaymentsSaas, "datadog-api-key", format!("DD_API_KEY={}", r.hex(32)));
    let glpat = h.c.s(SourceControlCi, "gitlab-pat", format!("GITLAB_TOKEN=glpat-{}", r.b64url(20)));
    h.write("ops/tokens.env", &format!("# temporary\n{hf}\n{dd}\n{glpat}\n"));
    let jwt = h.c.s(KeysTokens, "jwt", jwt_hs256(r, "orders-admin"));
    h.write(
        "tests/manual/curl.sh",
        &format!("curl -H \"Authorization: Bearer {jwt}\" http://localhost:8000/admin/orders\n"),
    );
    h.commit("WIP: upload to GCS");
    h.rm("web/.npmrc");
    h.rm("deploy/gcp-key.json");
    h.rm("ops/tokens.env");
    h.rm("tests/manual/curl.sh");
    h.commit("Remove temporary credentials");

    // 12: a tag on a commit whose secret is changed later (Twilio), then a negative-only commit
    let tw = h.c.s(
        Messaging,
        "twilio-auth-token",
        format!("TWILIO_ACCOUNT_SID = \"AC{}\"\nTWILIO_AUTH_TOKEN = \"{}\"", r.hex(32), r.hex(32)),
    );
    h.write("orders/sms.py", &format!("from twilio.rest import Client\n\n{tw}\n"));
    h.commit("SMS notifications");
    h.git(&["tag", "v1.0.0"]);
    let neg5 = h.c.n(Some(Messaging), "env-reference-python", "TWILIO_AUTH_TOKEN = os.environ[\"TWILIO_AUTH_TOKEN\"]");
    h.write("orders/sms.py", &format!("import os\n\nfrom twilio.rest import Client\n\nTWILIO_ACCOUNT_SID = os.environ[\"TWILIO_ACCOUNT_SID\"]\n{neg5}\n"));
    h.commit("SMS: read credentials from the environment");

    // 13: an unmerged branch with secrets
    h.git(&["checkout", "-q", "-b", "feature/payouts"]);
    let wh = h.c.s(PaymentsSaas, "stripe-webhook-secret", format!("STRIPE_WEBHOOK_SECRET = \"whsec_{}\"", r.alnum(32)));
    let an = h.c.s(Ai, "anthropic-api-key", format!("ANTHROPIC_API_KEY = \"{}\"", anthropic(r, "api03")));
    h.write("orders/payouts.py", &format!("import stripe\n\n{wh}\n{an}\n"));
    let rsa = h.c.s(KeysTokens, "private-key-rsa", pem(r, "rsa"));
    h.write("deploy/payouts-signing.pem", &rsa);
    h.commit("WIP payouts");
    h.git(&["checkout", "-q", "main"]);

    // 14: a merged branch that adds then removes a Vault token
    h.git(&["checkout", "-q", "-b", "fix/vault"]);
    let hv = h.c.s(PaymentsSaas, "vault-token", format!("VAULT_TOKEN={}", vault(r)));
    h.write("ops/vault.env", &format!("VAULT_ADDR=https://vault.acme.test\n{hv}\n"));
    h.commit("vault login for the migration");
    let neg6 = h.c.n(Some(PaymentsSaas), "placeholder", "VAULT_TOKEN=<set by vault agent>");
    h.write("ops/vault.env", &format!("VAULT_ADDR=https://vault.acme.test\n# the agent writes the token\n{neg6}\n"));
    h.commit("vault: use the agent");
    h.git(&["checkout", "-q", "main"]);
    h.git(&["merge", "-q", "--no-ff", "-m", "Merge fix/vault", "fix/vault"]);
    h
}
