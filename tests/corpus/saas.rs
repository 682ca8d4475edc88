//! Monorepo: messaging, payments and SaaS, AI providers.
use super::model::{Corpus, Family::*};
use super::rng::*;
use super::tokens::*;

pub fn messaging(c: &mut Corpus, r: &mut Rng) {
    let xoxb = c.s(Messaging, "slack-bot-token", slack_bot(r));
    let xapp = c.s(Messaging, "slack-app-token", slack_app(r));
    let t = format!("import os\nfrom slack_bolt import App\nfrom slack_bolt.adapter.socket_mode import SocketModeHandler\n\napp = App(token=\"{xoxb}\")\n\n\n@app.command(\"/deploy\")\ndef deploy(ack, command):\n    ack(f\"Deploying {{command['text']}}\")\n\n\nif __name__ == \"__main__\":\n    SocketModeHandler(app, \"{xapp}\").start()\n");
    c.file("bots/deploybot/app.py", t);
    let xoxp = c.s(Messaging, "slack-user-token", slack_user(r));
    let hook = c.s(Messaging, "slack-webhook", slack_webhook(r));
    let t = format!("alerting:\n  slack:\n    channel: \"#oncall\"\n    webhook_url: {hook}\n  archive:\n    # user token of the archiver account, needs channels:history\n    slack_user_token: \"{xoxp}\"\n");
    c.file("services/alerts/config/alerting.yaml", t);
    let hook2 = c.s(Messaging, "slack-webhook", slack_webhook(r));
    let t = format!("global:\n  resolve_timeout: 5m\n  slack_api_url: '{hook2}'\nroute:\n  receiver: slack-oncall\nreceivers:\n  - name: slack-oncall\n    slack_configs:\n      - channel: '#alerts'\n        send_resolved: true\n");
    c.file("ops/monitoring/alertmanager.yml", t);
    let dbot = c.s(Messaging, "discord-bot-token", discord_bot(r));
    let t = format!("const {{ Client, GatewayIntentBits }} = require('discord.js');\n\nconst client = new Client({{ intents: [GatewayIntentBits.Guilds] }});\nclient.once('ready', () => console.log(`ready as ${{client.user.tag}}`));\nclient.login('{dbot}');\n");
    c.file("bots/community/index.js", t);
    let dhook = c.s(Messaging, "discord-webhook", discord_webhook(r));
    let t = format!("package notify\n\nconst releaseWebhook = \"{dhook}\"\n");
    c.file("tools/releaser/notify/discord.go", t);
    let tg = c.s(Messaging, "telegram-bot-token", telegram(r));
    let t = format!("TELEGRAM_CHAT_ID=-100{}\nTELEGRAM_BOT_TOKEN={tg}\n", r.digits(10));
    c.file("bots/pager/.env", t);
    let teams = c.s(Messaging, "teams-webhook", teams_webhook(r));
    let t = format!("$payload = @{{ text = \"Nightly build failed: $env:BUILD_URL\" }} | ConvertTo-Json\nInvoke-RestMethod -Method Post -ContentType 'application/json' -Body $payload `\n  -Uri '{teams}'\n");
    c.file("ops/ci/notify-teams.ps1", t);
    // Twilio: API key + secret, account SID + auth token
    let tk =
        c.s(Messaging, "twilio-api-key", format!("TWILIO_API_KEY=SK{}\nTWILIO_API_SECRET={}", r.hex(32), r.alnum(32)));
    let ta = c.s(
        Messaging,
        "twilio-auth-token",
        format!("TWILIO_ACCOUNT_SID=AC{}\nTWILIO_AUTH_TOKEN={}", r.hex(32), r.hex(32)),
    );
    let t = format!("# SMS verification\n{ta}\n{tk}\nTWILIO_FROM=+15005550006\n");
    c.file("services/auth/.env", t);
    let ta2 = c.s(
        Messaging,
        "twilio-auth-token",
        format!(
            "  private static final String ACCOUNT_SID = \"AC{}\";\n  private static final String AUTH_TOKEN = \"{}\";",
            r.hex(32),
            r.hex(32)
        ),
    );
    let t = format!("package com.acme.notify;\n\nimport com.twilio.Twilio;\n\npublic final class Sms {{\n{ta2}\n\n  static {{\n    Twilio.init(ACCOUNT_SID, AUTH_TOKEN);\n  }}\n}}\n");
    c.file("services/notify/src/main/java/com/acme/notify/Sms.java", t);
    let sg = c.s(Messaging, "sendgrid-api-key", sendgrid(r));
    let t = format!("<?php\n\nreturn [\n    'driver' => 'sendgrid',\n    'from' => ['address' => 'no-reply@acme.test', 'name' => 'Acme'],\n    'sendgrid' => [\n        'api_key' => '{sg}',\n    ],\n];\n");
    c.file("apps/shop/config/mail.php", t);
    let mg = c.s(Messaging, "mailgun-api-key", format!("key-{}", r.hex(32)));
    let mgs = c.s(Messaging, "mailgun-webhook-signing-key", format!("{}-{}-{}", r.hex(32), r.hex(8), r.hex(8)));
    let t = format!("Rails.application.configure do\n  config.action_mailer.delivery_method = :mailgun\n  config.action_mailer.mailgun_settings = {{\n    api_key: '{mg}',\n    domain: 'mg.acme.test',\n    webhook_signing_key: '{mgs}'\n  }}\nend\n");
    c.file("apps/storefront/config/environments/production.rb", t);
    let mc = c.s(Messaging, "mailchimp-api-key", mailchimp(r));
    let pm = c.s(Messaging, "postmark-server-token", r.uuid());
    let t = format!("export const mail = {{\n  mailchimp: {{ apiKey: '{mc}', listId: '{}' }},\n  postmark: {{ serverToken: '{pm}' }},\n}};\n", r.hex(10));
    c.file("web/src/server/mail.config.ts", t);
}

pub fn payments(c: &mut Corpus, r: &mut Rng) {
    let sk = c.s(PaymentsSaas, "stripe-secret-key", stripe(r, "sk_live_"));
    let wh = c.s(PaymentsSaas, "stripe-webhook-secret", format!("whsec_{}", r.alnum(32)));
    let t = format!("import Stripe from 'stripe';\n\nexport const stripe = new Stripe('{sk}', {{ apiVersion: '2024-06-20' }});\nexport const endpointSecret = '{wh}';\n");
    c.file("web/src/server/stripe.ts", t);
    let rk = c.s(PaymentsSaas, "stripe-restricted-key", stripe(r, "rk_live_"));
    let t = format!("STRIPE_RESTRICTED_KEY={rk}\nSTRIPE_ACCOUNT=acct_{}\n", r.alnum(16));
    c.file("services/payouts/.env", t);
    let sq = c.s(PaymentsSaas, "square-access-token", format!("EAAA{}", r.b64url(60)));
    let sqs = c.s(PaymentsSaas, "square-oauth-secret", format!("sq0csp-{}", r.b64url(43)));
    let t = format!("square:\n  environment: production\n  application_id: sq0idp-{}\n  application_secret: {sqs}\n  access_token: {sq}\n", r.b64url(22));
    c.file("apps/pos-sync/config/square.yml", t);
    let shp = c.s(PaymentsSaas, "shopify-access-token", shopify(r, "shpat_"));
    let shs = c.s(PaymentsSaas, "shopify-shared-secret", shopify(r, "shpss_"));
    let t = format!("SHOPIFY_STORE=acme-outlet.myshopify.com\nSHOPIFY_ADMIN_TOKEN={shp}\nSHOPIFY_API_SECRET={shs}\n");
    c.file("apps/shop-sync/.env", t);
    let bt = c.s(PaymentsSaas, "braintree-access-token", braintree(r));
    let t = format!("require \"braintree\"\n\nGATEWAY = Braintree::Gateway.new(access_token: \"{bt}\")\n");
    c.file("apps/storefront/config/initializers/braintree.rb", t);
    let fb = c.s(PaymentsSaas, "facebook-access-token", facebook(r));
    let t = format!("import requests\n\nPAGE_ID = \"{}\"\nPAGE_ACCESS_TOKEN = \"{fb}\"\n\n\ndef post(message):\n    return requests.post(f\"https://graph.facebook.com/v19.0/{{PAGE_ID}}/feed\", data={{\"message\": message, \"access_token\": PAGE_ACCESS_TOKEN}})\n", r.digits(15));
    c.file("marketing/social/facebook.py", t);
    let fcm = c.s(PaymentsSaas, "firebase-cloud-messaging-key", fcm_server_key(r));
    let t = format!("<?php\ndefine('FCM_SERVER_KEY', '{fcm}');\n\nfunction push_notify($deviceToken, $title) {{\n    $headers = ['Authorization: key=' . FCM_SERVER_KEY, 'Content-Type: application/json'];\n    // ...\n}}\n");
    c.file("apps/legacy-php/lib/push.php", t);
    let mb = c.s(PaymentsSaas, "mapbox-secret-token", mapbox_secret(r));
    let t = format!("MAPBOX_DOWNLOADS_TOKEN={mb}\n");
    c.file("mobile/android/gradle.properties.local", t);
    let alg = c.s(PaymentsSaas, "algolia-admin-key", r.hex(32));
    let t = format!("const algoliasearch = require('algoliasearch');\n// admin key: used only by the nightly indexer\nconst client = algoliasearch('{}', '{alg}');\nmodule.exports = client.initIndex('products');\n", r.s(UPPER_ALNUM, 10));
    c.file("services/indexer/algolia.js", t);
    let at = c.s(PaymentsSaas, "airtable-pat", format!("pat{}.{}", r.alnum(14), r.hex(64)));
    let no = c.s(PaymentsSaas, "notion-token", format!("ntn_{}{}", r.digits(11), r.alnum(35)));
    let lin = c.s(PaymentsSaas, "linear-api-key", format!("lin_api_{}", r.alnum(40)));
    let t = format!("# pm-sync: mirrors Linear issues into Notion and Airtable\nAIRTABLE_TOKEN={at}\nNOTION_TOKEN={no}\nLINEAR_API_KEY={lin}\n");
    c.file("tools/pm-sync/.env", t);
    let atl = c.s(PaymentsSaas, "atlassian-api-token", atlassian(r));
    let t = format!("jira:\n  url: https://acme.atlassian.net\n  user: release-bot@acme.test\n  api_token: {atl}\n");
    c.file("tools/changelog/jira.yml", t);
    let asana = c.s(PaymentsSaas, "asana-pat", format!("2/{}/{}:{}", r.digits(16), r.digits(16), r.hex(32)));
    let hs = c.s(PaymentsSaas, "hubspot-private-app-token", format!("pat-na1-{}", r.uuid()));
    let t = format!("import os\n\nASANA_TOKEN = \"{asana}\"\nHUBSPOT_TOKEN = \"{hs}\"\nPROJECT = os.environ.get(\"ASANA_PROJECT\", \"1204\")\n");
    c.file("tools/crm-sync/settings.py", t);
    let okta = c.s(PaymentsSaas, "okta-api-token", format!("00{}", r.b64url(40)));
    let a0 = c.s(PaymentsSaas, "auth0-client-secret", r.b64url(64));
    let t = format!("okta:\n  client:\n    orgUrl: https://acme.okta.com\n    token: {okta}\nauth0:\n  domain: acme.eu.auth0.com\n  client_id: {}\n  client_secret: {a0}\n", r.alnum(32));
    c.file("services/identity/config/idp.yaml", t);
    let op = c.s(PaymentsSaas, "1password-service-account-token", onepassword(r));
    let dp = c.s(PaymentsSaas, "doppler-token", format!("dp.st.prd.{}", r.alnum(43)));
    let hv = c.s(PaymentsSaas, "vault-token", vault(r));
    let t = format!("FROM alpine:3.20\nRUN apk add --no-cache curl\nENV OP_SERVICE_ACCOUNT_TOKEN={op}\nENV DOPPLER_TOKEN={dp}\nENV VAULT_ADDR=https://vault.acme.test:8200\nENV VAULT_TOKEN={hv}\nCOPY entrypoint.sh /entrypoint.sh\nENTRYPOINT [\"/entrypoint.sh\"]\n");
    c.file("ops/secrets-agent/Dockerfile", t);
    let dpt = c.s(PaymentsSaas, "doppler-personal-token", format!("dp.pt.{}", r.alnum(43)));
    let t = format!(
        "#!/usr/bin/env bash\nexport DOPPLER_TOKEN={dpt}\ndoppler run --project api --config prd -- ./start.sh\n"
    );
    c.file("services/api/run-with-doppler.sh", t);
    let tfc = c.s(PaymentsSaas, "terraform-cloud-token", tfc(r));
    let t = format!("credentials \"app.terraform.io\" {{\n  token = \"{tfc}\"\n}}\n");
    c.file("infra/terraform/.terraformrc", t);
    let pul = c.s(PaymentsSaas, "pulumi-access-token", format!("pul-{}", r.hex(40)));
    let dapi = c.s(PaymentsSaas, "databricks-token", format!("dapi{}", r.hex(32)));
    let t = format!("name: data-infra\non: [push]\njobs:\n  up:\n    runs-on: ubuntu-latest\n    env:\n      PULUMI_ACCESS_TOKEN: {pul}\n      DATABRICKS_HOST: https://adb-{}.7.azuredatabricks.net\n      DATABRICKS_TOKEN: {dapi}\n    steps:\n      - uses: pulumi/actions@v5\n        with:\n          command: up\n          stack-name: prod\n", r.digits(16));
    c.file("data/.github/workflows/infra.yml", t);
    let dd = c.s(PaymentsSaas, "datadog-api-key", r.hex(32));
    let dda = c.s(PaymentsSaas, "datadog-app-key", r.hex(40));
    let t = format!("apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: datadog-agent\nspec:\n  template:\n    spec:\n      containers:\n        - name: agent\n          image: gcr.io/datadoghq/agent:7\n          env:\n            - name: DD_API_KEY\n              value: \"{dd}\"\n            - name: DD_APP_KEY\n              value: \"{dda}\"\n            - name: DD_SITE\n              value: datadoghq.eu\n");
    c.file("k8s/monitoring/datadog-agent.yaml", t);
    let nr = c.s(PaymentsSaas, "newrelic-user-key", format!("NRAK-{}", r.s(UPPER_ALNUM, 27)));
    let t = format!("common: &default_settings\n  app_name: acme-ledger\n  license_key: <%= ENV['NEW_RELIC_LICENSE_KEY'] %>\n  # used by the deploy marker task\n  api_key: {nr}\n");
    c.file("apps/storefront/config/newrelic.yml", t);
    let se = c.s(PaymentsSaas, "sentry-org-token", sentry_org(r));
    let t = format!("defaults.url=https://sentry.io/\ndefaults.org=acme\ndefaults.project=android\nauth.token={se}\n");
    c.file("mobile/android/sentry.properties", t);
    let glc = c.s(PaymentsSaas, "grafana-cloud-token", grafana_cloud(r));
    let glsa = c.s(PaymentsSaas, "grafana-service-account-token", format!("glsa_{}_{}", r.alnum(32), r.hex(8)));
    let t = format!("apiVersion: 1\ndatasources:\n  - name: prom\n    type: prometheus\n    url: https://prometheus-prod-24-prod-eu-west-2.grafana.net/api/prom\n    basicAuth: true\n    basicAuthUser: 1283746\n    secureJsonData:\n      basicAuthPassword: {glc}\n# provisioning job\n# GRAFANA_SA_TOKEN={glsa}\n");
    c.file("ops/monitoring/grafana/datasources.yaml", t);
    let dt = c.s(PaymentsSaas, "dynatrace-token", dynatrace(r));
    let t = format!("oneagent:\n  apiUrl: https://abc{}.live.dynatrace.com/api\n  apiToken: {dt}\n", r.digits(5));
    c.file("k8s/monitoring/dynakube-values.yaml", t);
    let pd = c.s(PaymentsSaas, "pagerduty-api-key", format!("u+{}", r.b64url(18)));
    let t = format!("resource \"pagerduty_service\" \"api\" {{\n  name = \"api\"\n}}\n\nprovider \"pagerduty\" {{\n  token = \"{pd}\"\n}}\n");
    c.file("infra/terraform/pagerduty/main.tf", t);
}

pub fn ai(c: &mut Corpus, r: &mut Rng) {
    let oa = c.s(Ai, "openai-project-key", openai_proj(r));
    let t = format!("from openai import OpenAI\n\nclient = OpenAI(api_key=\"{oa}\")\n\n\ndef summarize(text: str) -> str:\n    resp = client.chat.completions.create(model=\"gpt-4o-mini\", messages=[{{\"role\": \"user\", \"content\": text}}])\n    return resp.choices[0].message.content\n");
    c.file("ml/summarizer/summarizer/llm.py", t);
    let ol = c.s(Ai, "openai-legacy-key", openai_legacy(r));
    let t = format!("OPENAI_API_KEY={ol}\nOPENAI_ORG=org-{}\n", r.alnum(24));
    c.file("ml/notebooks/.env", t);
    let an = c.s(Ai, "anthropic-api-key", anthropic(r, "api03"));
    let t = format!("import Anthropic from '@anthropic-ai/sdk';\n\nconst anthropic = new Anthropic({{\n  apiKey: '{an}',\n}});\n\nexport default anthropic;\n");
    c.file("web/src/server/ai.ts", t);
    let ana = c.s(Ai, "anthropic-admin-key", anthropic(r, "admin01"));
    let t = format!("ANTHROPIC_ADMIN_KEY={ana}\n");
    c.file("ops/ai-usage/.env", t);
    let hf = c.s(Ai, "huggingface-token", format!("hf_{}", r.s(LETTERS, 34)));
    let gq = c.s(Ai, "groq-api-key", format!("gsk_{}", r.alnum(52)));
    let rp = c.s(Ai, "replicate-api-token", format!("r8_{}", r.alnum(37)));
    let px = c.s(Ai, "perplexity-api-key", format!("pplx-{}", r.alnum(48)));
    let t = format!("services:\n  inference:\n    image: acme/inference:1.4\n    environment:\n      HF_TOKEN: {hf}\n      GROQ_API_KEY: {gq}\n      REPLICATE_API_TOKEN: {rp}\n      PERPLEXITY_API_KEY: {px}\n    ports:\n      - \"8000:8000\"\n");
    c.file("ml/inference/docker-compose.yml", t);
    let co = c.s(Ai, "cohere-api-key", r.alnum(40));
    let mi = c.s(Ai, "mistral-api-key", r.alnum(32));
    let t = format!("package llm\n\nvar providers = map[string]Provider{{\n\t\"cohere\":  {{BaseURL: \"https://api.cohere.com/v2\", APIKey: \"{co}\"}},\n\t\"mistral\": {{BaseURL: \"https://api.mistral.ai/v1\", APIKey: \"{mi}\"}},\n}}\n");
    c.file("services/gateway/llm/providers.go", t);
    let oa2 = c.s(Ai, "openai-service-account-key", format!("sk-svcacct-{}T3BlbkFJ{}", r.b64url(74), r.b64url(74)));
    let t = format!("{{\n  \"llm\": {{\n    \"provider\": \"openai\",\n    \"model\": \"gpt-4o\",\n    \"apiKey\": \"{oa2}\"\n  }}\n}}\n");
    c.file("services/support-bot/config.json", t);
}
