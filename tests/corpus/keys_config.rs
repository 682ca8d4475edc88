//! Monorepo: private keys and tokens, configuration credentials in every syntax.
use super::model::{Corpus, Family::*};
use super::rng::*;
use super::tokens::*;

pub fn keys(c: &mut Corpus, r: &mut Rng) {
    for (path, kind, fmt) in [
        ("ops/ssh/deploy_rsa", "rsa", "private-key-rsa"),
        ("services/api/certs/server.key", "pkcs8", "private-key-pkcs8"),
        ("ops/ssh/id_ed25519", "openssh", "private-key-openssh"),
        ("ops/legacy/dsa_host_key", "dsa", "private-key-dsa"),
        ("services/ledger/certs/signing-ec.pem", "ec", "private-key-ec"),
        ("ops/vpn/client.key", "pkcs8-encrypted", "private-key-encrypted-pkcs8"),
        ("ops/legacy/backup-rsa.pem", "rsa-encrypted", "private-key-encrypted-rsa"),
    ] {
        let k = c.s(KeysTokens, fmt, pem(r, kind));
        c.file(path, k);
    }
    let pk = c.s(KeysTokens, "private-key-putty", putty(r));
    c.file("ops/windows/jumpbox.ppk", pk);
    // PEM in a YAML block scalar (Helm values)
    let k = pem(r, "rsa").replace('\n', "\n    ");
    let k = c.s(KeysTokens, "private-key-rsa", k);
    let t = format!("ingress:\n  enabled: true\n  host: api.acme.test\ntls:\n  crt: |\n    -----BEGIN CERTIFICATE-----\n    MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n    -----END CERTIFICATE-----\n  key: |\n    {k}\n");
    c.file("charts/api/values-prod.yaml", t);
    // escaped PEM in a JSON config string
    let k = c.s(KeysTokens, "private-key-ec-escaped", pem(r, "ec").replace('\n', "\\n"));
    let t = format!("{{\n  \"issuer\": \"https://auth.acme.test\",\n  \"signing\": {{\n    \"alg\": \"ES256\",\n    \"kid\": \"2025-01\",\n    \"private_key\": \"{k}\\n\"\n  }}\n}}\n");
    c.file("services/identity/config/jwks.json", t);
    // private key in a Python string (triple-quoted)
    let k = c.s(KeysTokens, "private-key-rsa", pem(r, "rsa"));
    let t = format!("import jwt\n\nAPP_ID = 912374\nPRIVATE_KEY = \"\"\"{k}\"\"\"\n\n\ndef app_jwt(now):\n    return jwt.encode({{\"iat\": now, \"exp\": now + 600, \"iss\": APP_ID}}, PRIVATE_KEY, algorithm=\"RS256\")\n");
    c.file("tools/review-bot/auth.py", t);
    // JWTs
    let j = c.s(KeysTokens, "jwt", jwt_hs256(r, "svc-reporting"));
    let t = format!("### list invoices\nGET https://api.acme.test/v2/invoices?limit=50\nAuthorization: Bearer {j}\nAccept: application/json\n");
    c.file("services/billing-api/requests.http", t);
    let j = c.s(KeysTokens, "jwt", jwt_hs256(r, "ci-smoke"));
    let t = format!("#!/bin/sh\ncurl -fsS -H 'Authorization: Bearer {j}' https://staging.acme.test/healthz/deep\n");
    c.file("tools/smoke.sh", t);
    let sa = c.s(KeysTokens, "kubernetes-service-account-token", k8s_sa_token(r, "ci", "deployer"));
    let t = format!("K8S_SERVER=https://10.20.0.1:6443\nK8S_TOKEN={sa}\n");
    c.file("ops/ci/k8s.env", t);
    let age = c.s(KeysTokens, "age-secret-key", age_key(r));
    let t = format!("# created: 2025-02-11T09:12:44Z\n# public key: age1{}\n{age}\n", r.s(BECH32, 58));
    c.file("ops/sops/keys.txt", t);
    // Kubernetes TLS secret: base64 of a PEM key on one line
    let key_b64 = b64encode(pem(r, "rsa").as_bytes());
    let kb = c.s(KeysTokens, "private-key-base64-in-k8s-secret", key_b64);
    let t = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-tls\n  namespace: prod\ntype: kubernetes.io/tls\ndata:\n  tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSURkekNDQWwrZ0F3SUJBZ0lFQWdBQXVUQU5CZ2txaGtpRzl3MEJBUVVGQURCYQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==\n  tls.key: {kb}\n");
    c.file("k8s/prod/api-tls-secret.yaml", t);
}

pub fn config(c: &mut Corpus, r: &mut Rng) {
    let mut pw = || r.password();
    let (p1, p2, p3, p4, p5, p6, p7) = (pw(), pw(), pw(), pw(), pw(), pw(), pw());
    let pg = c.s(
        ConfigCredentials,
        "postgres-url",
        format!("DATABASE_URL=postgres://ledger_app:{p1}@ledger-db.internal:5432/ledger?sslmode=require"),
    );
    let rd = c.s(ConfigCredentials, "redis-url", format!("REDIS_URL=redis://:{p2}@cache.internal:6379/0"));
    let amqp = c.s(ConfigCredentials, "amqp-url", format!("AMQP_URL=amqps://ledger:{p3}@mq.internal:5671/ledger"));
    let t = format!("APP_ENV=production\n{pg}\n{rd}\n{amqp}\nSENTRY_ENVIRONMENT=production\n");
    c.file("services/ledger/.env", t);
    let my = c.s(ConfigCredentials, "mysql-url", format!("      - DATABASE_URL=mysql://wp:{p4}@db:3306/wordpress"));
    let mypw = c.s(ConfigCredentials, "generic-password-yaml", format!("      MYSQL_ROOT_PASSWORD: {p5}"));
    let t = format!("services:\n  wordpress:\n    image: wordpress:6.5\n    environment:\n{my}\n  db:\n    image: mysql:8.0\n    environment:\n{mypw}\n      MYSQL_DATABASE: wordpress\n");
    c.file("apps/blog/docker-compose.yml", t);
    let mg = c.s(
        ConfigCredentials,
        "mongodb-srv-url",
        format!(
            "mongodb+srv://catalog-svc:{p6}@cluster0.{}.mongodb.net/catalog?retryWrites=true&w=majority",
            r.s(LOWER_ALNUM, 5)
        ),
    );
    let t = format!("const mongoose = require('mongoose');\n\nmongoose.connect('{mg}');\n");
    c.file("services/catalog/src/db.js", t);
    let mg2 = c.s(
        ConfigCredentials,
        "mongodb-url",
        format!("mongodb://admin:{p7}@mongo-0.mongo:27017,mongo-1.mongo:27017/admin?replicaSet=rs0"),
    );
    let t = format!("storage:\n  mongo:\n    uri: \"{mg2}\"\n");
    c.file("services/events/config/prod.yaml", t);
    let ms = c.s(ConfigCredentials, "mssql-connection-string", format!("Server=tcp:acme-sql.database.windows.net,1433;Initial Catalog=crm;User ID=crm_app;Password={};Encrypt=True;", r.password()));
    let t = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <connectionStrings>\n    <add name=\"Crm\" connectionString=\"{ms}\" providerName=\"System.Data.SqlClient\" />\n  </connectionStrings>\n</configuration>\n");
    c.file("apps/crm/Web.config", t);
    let jdbc = c.s(
        ConfigCredentials,
        "jdbc-url",
        format!(
            "spring.datasource.url=jdbc:postgresql://pg.internal:5432/ledger?user=ledger&password={}",
            r.password()
        ),
    );
    let t = format!("spring.jpa.hibernate.ddl-auto=validate\n{jdbc}\nspring.datasource.hikari.maximum-pool-size=20\n");
    c.file("services/ledger/src/main/resources/application-prod.properties", t);
    let sqlsrv = c.s(
        ConfigCredentials,
        "mssql-url",
        format!("    \"sqlserver://sa:{}@localhost:1433?database=reports\",", r.password()),
    );
    let t = format!("package reports\n\nvar dsns = []string{{\n{sqlsrv}\n}}\n");
    c.file("services/reports-go/db/dsn.go", t);
    let (_, enc) = r.url_password();
    let pe = c.s(
        ConfigCredentials,
        "postgres-url-percent-encoded",
        format!("  url: postgresql://analytics:{enc}@warehouse.internal:5432/dwh"),
    );
    let t = format!("warehouse:\n{pe}\n  pool: 10\n");
    c.file("data/dbt/profiles-prod.yml", t);
    let rs = c.s(
        ConfigCredentials,
        "redis-url",
        format!(
            "CELERY_BROKER_URL = \"rediss://default:{}@redis-12345.c1.eu-west-1.ec2.cloud.redislabs.com:12345\"",
            r.password()
        ),
    );
    let t = format!("from .base import *  # noqa\n\nDEBUG = False\n{rs}\n");
    c.file("services/reports/reports/settings/prod.py", t);
    let ba = c.s(
        ConfigCredentials,
        "basic-auth-url",
        format!("https://deploy:{}@artifacts.acme.test/repository/pypi/simple", r.password()),
    );
    let t = format!("--index-url {ba}\ndjango==5.0.6\ncelery==5.4.0\n");
    c.file("services/reports/requirements-prod.txt", t);
    let netrc = c.s(
        ConfigCredentials,
        "netrc-password",
        format!("machine api.heroku.com\n  login ops@acme.test\n  password {}", r.password()),
    );
    c.file("ops/home/.netrc", format!("{netrc}\nmachine files.acme.test login backup\n"));
    let pgp = c.s(ConfigCredentials, "pgpass", format!("ledger-db.internal:5432:ledger:ledger_admin:{}", r.password()));
    c.file("ops/home/.pgpass", format!("localhost:5432:*:postgres:\n{pgp}\n"));
    let gc = c.s(ConfigCredentials, "git-credentials", format!("https://ci-bot:{}@git.acme.test", r.password()));
    c.file("ops/home/.git-credentials", format!("{gc}\n"));
    // kubeconfig with client key data and a static token
    let ckd = c.s(
        ConfigCredentials,
        "kubeconfig-client-key-data",
        format!("    client-key-data: {}", b64encode(pem(r, "ec").as_bytes())),
    );
    let tok =
        c.s(ConfigCredentials, "kubeconfig-token", format!("    token: {}", k8s_sa_token(r, "kube-system", "admin")));
    let t = format!("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM1ekNDQWMrZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=\n    server: https://k8s.acme.test:6443\n  name: prod\ncontexts:\n- context:\n    cluster: prod\n    user: admin\n  name: prod\ncurrent-context: prod\nusers:\n- name: admin\n  user:\n    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM4akNDQWRxZ0F3SUJBZ0lJUjdyRmQ0NHJzZ0F3RFFZSktvWklodmNOQVFFTEJRQXdGVEVUTUJFR0ExVUUKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=\n{ckd}\n- name: ci\n  user:\n{tok}\n");
    c.file("ops/kube/config-prod", t);
    // docker config.json
    let auth = b64encode(format!("acmebuild:{}", r.password()).as_bytes());
    let da = c.s(ConfigCredentials, "docker-config-auth", format!("      \"auth\": \"{auth}\""));
    let t = format!(
        "{{\n  \"auths\": {{\n    \"registry.acme.test\": {{\n{da}\n    }}\n  }},\n  \"credsStore\": \"\"\n}}\n"
    );
    c.file("ops/ci/docker/config.json", t);
    // .npmrc for a private registry: _authToken (opaque) and _auth (base64 user:pass)
    let at = c.s(
        ConfigCredentials,
        "npmrc-auth-token",
        format!("//npm.acme.test/repository/npm-private/:_authToken=NpmToken.{}", r.uuid()),
    );
    let au = c.s(
        ConfigCredentials,
        "npmrc-auth",
        format!(
            "//nexus.acme.test/repository/npm-group/:_auth={}",
            b64encode(format!("ci-reader:{}", r.password()).as_bytes())
        ),
    );
    c.file(
        "services/catalog/.npmrc",
        format!("registry=https://npm.acme.test/repository/npm-private/\n{at}\n{au}\nalways-auth=true\n"),
    );
    let py = c.s(ConfigCredentials, "pypirc-password", format!("password = {}", r.password()));
    c.file("ops/home/.pypirc", format!("[distutils]\nindex-servers = internal\n\n[internal]\nrepository = https://artifacts.acme.test/repository/pypi-internal/\nusername = deploy\n{py}\n"));
    // framework secrets
    let skb = c.s(ConfigCredentials, "rails-secret-key-base", format!("  secret_key_base: {}", r.hex(128)));
    c.file("apps/storefront/config/secrets.yml", format!("production:\n{skb}\n"));
    let dj = c.s(
        ConfigCredentials,
        "django-secret-key",
        format!("SECRET_KEY = \"{}\"", r.s("abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)", 50)),
    );
    c.file("services/reports/reports/settings/base.py", format!("from pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent.parent\n\n{dj}\n\nINSTALLED_APPS = [\"django.contrib.auth\", \"reports\"]\n"));
    let js = c.s(ConfigCredentials, "jwt-secret", format!("JWT_SECRET={}", r.b64(48)));
    c.file("services/auth/.env.production", format!("JWT_EXPIRES_IN=15m\n{js}\nCOOKIE_DOMAIN=.acme.test\n"));
    // generic assignments in many syntaxes
    let g = c.s(ConfigCredentials, "generic-password-env", format!("SMTP_PASSWORD={}", r.password()));
    c.file("services/notify/.env", format!("SMTP_HOST=smtp.acme.test\nSMTP_USER=notify\n{g}\n"));
    let g = c.s(ConfigCredentials, "generic-password-ruby", format!("    password: \"{}\",", r.password()));
    c.file("apps/storefront/lib/tasks/ftp_export.rake", format!("task :ftp_export do\n  Net::FTP.open(\"ftp.partner.test\",\n    username: \"acme\",\n{g}\n  ) {{ |ftp| ftp.putbinaryfile(\"export.csv\") }}\nend\n"));
    let g = c.s(ConfigCredentials, "generic-password-php-arrow", format!("        'password' => '{}',", r.password()));
    c.file("apps/shop/config/database.php", format!("<?php\nreturn [\n    'mysql' => [\n        'host' => 'db.internal',\n        'username' => 'shop',\n{g}\n    ],\n];\n"));
    let g =
        c.s(ConfigCredentials, "generic-password-php-define", format!("define( 'DB_PASSWORD', '{}' );", r.password()));
    c.file(
        "apps/blog/wp-config.php",
        format!(
            "<?php\ndefine( 'DB_NAME', 'wordpress' );\ndefine( 'DB_USER', 'wp' );\n{g}\ndefine( 'DB_HOST', 'db' );\n"
        ),
    );
    let g = c.s(ConfigCredentials, "generic-secret-json", format!("    \"clientSecret\": \"{}\",", r.alnum(40)));
    c.file("services/partner-api/config/production.json", format!("{{\n  \"partner\": {{\n    \"clientId\": \"acme-prod\",\n{g}\n    \"baseUrl\": \"https://api.partner.test\"\n  }}\n}}\n"));
    let g = c.s(ConfigCredentials, "generic-password-xml-attribute", format!("  <datasource name=\"erp\" url=\"jdbc:oracle:thin:@erp-db:1521/ERP\" username=\"erp_ro\" password=\"{}\"/>", r.password()));
    c.file(
        "services/erp-bridge/conf/datasources.xml",
        format!("<?xml version=\"1.0\"?>\n<datasources>\n{g}\n</datasources>\n"),
    );
    let g =
        c.s(ConfigCredentials, "generic-password-xml-element", format!("    <password>{}</password>", r.password()));
    c.file("services/erp-bridge/conf/ldap.xml", format!("<ldap>\n    <url>ldaps://ldap.acme.test:636</url>\n    <bindDn>cn=erp,ou=svc,dc=acme,dc=test</bindDn>\n{g}\n</ldap>\n"));
    let g = c.s(ConfigCredentials, "generic-password-properties", format!("mail.smtp.password={}", r.password()));
    c.file(
        "services/notify/src/main/resources/mail.properties",
        format!("mail.smtp.host=smtp.acme.test\nmail.smtp.user=notify\n{g}\n"),
    );
    let g = c.s(ConfigCredentials, "generic-password-ini", format!("password = {}", r.password()));
    c.file("ops/backup/barman.ini", format!("[barman]\nbarman_home = /var/lib/barman\n\n[ledger]\nconninfo = host=ledger-db.internal user=barman dbname=ledger\nuser = barman\n{g}\n"));
    let g =
        c.s(ConfigCredentials, "generic-password-terraform", format!("  password             = \"{}\"", r.password()));
    c.file("infra/terraform/aws/rds.tf", format!("resource \"aws_db_instance\" \"ledger\" {{\n  identifier           = \"ledger-prod\"\n  engine               = \"postgres\"\n  instance_class       = \"db.r6g.large\"\n  username             = \"ledger_admin\"\n{g}\n  skip_final_snapshot  = false\n}}\n"));
    let g = c.s(ConfigCredentials, "generic-password-dockerfile-env", format!("ENV ADMIN_PASSWORD={}", r.password()));
    let a = c.s(ConfigCredentials, "generic-token-dockerfile-arg", format!("ARG GEMFURY_TOKEN={}", r.alnum(20)));
    c.file("apps/storefront/Dockerfile", format!("FROM ruby:3.3-slim\n{a}\nRUN bundle config gem.fury.io $GEMFURY_TOKEN\n{g}\nCOPY . /app\nCMD [\"bin/rails\", \"server\"]\n"));
    let g = c.s(ConfigCredentials, "generic-password-shell-export", format!("export PGPASSWORD='{}'", r.password()));
    c.file(
        "ops/backup/restore.sh",
        format!("#!/bin/bash\nset -e\n{g}\npg_restore -h ledger-db.internal -U ledger_admin -d ledger \"$1\"\n"),
    );
    let g = c.s(
        ConfigCredentials,
        "generic-password-cli-flag",
        format!("mysqldump --host=db.internal --user=root --password={} shop > shop.sql", r.password()),
    );
    c.file("ops/backup/dump-shop.sh", format!("#!/bin/sh\n{g}\ngzip shop.sql\n"));
    let g = c.s(ConfigCredentials, "generic-password-python-kwarg", format!("    conn = psycopg2.connect(host=\"ledger-db.internal\", dbname=\"ledger\", user=\"etl\", password=\"{}\")", r.password()));
    c.file("data/etl/extract.py", format!("import psycopg2\n\n\ndef connect():\n{g}\n    return conn\n"));
    let g = c.s(ConfigCredentials, "generic-password-go-struct", format!("\t\tPassword: \"{}\",", r.password()));
    c.file("services/gateway/cache/redis.go", format!("package cache\n\nimport \"github.com/redis/go-redis/v9\"\n\nfunc New() *redis.Client {{\n\treturn redis.NewClient(&redis.Options{{\n\t\tAddr:     \"cache.internal:6379\",\n{g}\n\t}})\n}}\n"));
    let g = c.s(
        ConfigCredentials,
        "generic-password-java",
        format!("    private static final String KEYSTORE_PASSWORD = \"{}\";", r.password()),
    );
    c.file(
        "services/ledger/src/main/java/com/acme/ledger/Tls.java",
        format!("package com.acme.ledger;\n\nfinal class Tls {{\n{g}\n}}\n"),
    );
    let g = c.s(
        ConfigCredentials,
        "generic-password-csharp",
        format!("        private const string ApiSecret = \"{}\";", r.alnum(32)),
    );
    c.file(
        "apps/crm/Services/PartnerClient.cs",
        format!("namespace Acme.Crm.Services\n{{\n    public class PartnerClient\n    {{\n{g}\n    }}\n}}\n"),
    );
    let g = c.s(ConfigCredentials, "generic-api-key-yaml", format!("  api_key: {}", r.alnum(32)));
    c.file("services/geo/config/ipinfo.yaml", format!("ipinfo:\n{g}\n  cache_ttl: 3600\n"));
    let g = c.s(ConfigCredentials, "generic-token-helm-values", format!("  authToken: \"{}\"", r.alnum(36)));
    c.file(
        "charts/ledger/values-prod.yaml",
        format!("replicaCount: 3\nimage:\n  repository: acme/ledger\n  tag: \"2.14.1\"\nexporter:\n{g}\n"),
    );
    // Kubernetes Secret with base64 data: the label is the encoded value's line
    let v1 = c.s(
        ConfigCredentials,
        "k8s-secret-base64-password",
        format!("  DB_PASSWORD: {}", b64encode(r.password().as_bytes())),
    );
    let v2 = c.s(
        PaymentsSaas,
        "stripe-secret-key-base64",
        format!("  STRIPE_SECRET_KEY: {}", b64encode(stripe(r, "sk_live_").as_bytes())),
    );
    c.file("k8s/prod/ledger-secrets.yaml", format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: ledger-secrets\n  namespace: prod\ntype: Opaque\ndata:\n  DB_USER: bGVkZ2VyX2FwcA==\n{v1}\n{v2}\n"));
    // stringData secret
    let v = c.s(ConfigCredentials, "k8s-secret-stringdata", format!("  password: \"{}\"", r.password()));
    c.file("k8s/prod/rabbitmq-secret.yaml", format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: rabbitmq-auth\ntype: Opaque\nstringData:\n  username: ledger\n{v}\n"));
    // UTF-16LE PowerShell script with BOM
    let v = c.s(
        ConfigCredentials,
        "generic-password-utf16",
        format!("$Password = ConvertTo-SecureString '{}' -AsPlainText -Force", r.password()),
    );
    c.file_utf16("ops/windows/join-domain.ps1", format!("$User = 'ACME\\svc-join'\n{v}\n$Cred = New-Object System.Management.Automation.PSCredential($User, $Password)\nAdd-Computer -DomainName acme.test -Credential $Cred -Restart\n"));
    // GitHub Actions service container with a hard-coded password
    let v = c.s(ConfigCredentials, "generic-password-yaml", format!("          POSTGRES_PASSWORD: {}", r.password()));
    c.file(".github/workflows/integration.yml", format!("name: integration\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    services:\n      postgres:\n        image: postgres:16\n        env:\n{v}\n    steps:\n      - uses: actions/checkout@v4\n      - run: make test-integration\n"));
}
