//! `whodid k8s webhook-config`: everything a kube-apiserver needs to send
//! its audit events to whodid — the kubeconfig-format webhook file with a
//! client certificate for the cluster (issued by the data directory's CA),
//! and the flags to start the apiserver with, each explained.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use clap::{Args, Subcommand};
use whodid_server::pki::{write_private, LocalCa};

#[derive(Debug, Subcommand)]
pub(crate) enum K8sCommand {
    /// Write the apiserver's webhook kubeconfig and client certificate for a cluster, and print the apiserver flags.
    WebhookConfig(WebhookConfigArgs),
}

#[derive(Debug, Args)]
pub(crate) struct WebhookConfigArgs {
    /// The cluster's name (its endpoint is /k8s-audit/<name>; the certificate's CN).
    #[arg(long)]
    cluster: String,

    /// The data directory whose CA issues the certificate (the one `whodid serve` uses).
    #[arg(long, env = "WHODID_DATA", default_value = "./whodid-data")]
    data: PathBuf,

    /// whodid's address as the apiserver reaches it.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    server: String,

    /// Where to write the files.
    #[arg(long, default_value = ".")]
    out: PathBuf,

    /// Where the apiserver will find the kubeconfig (for the printed flags).
    #[arg(long, default_value = "/etc/kubernetes/whodid")]
    install_dir: String,

    /// Validity of the client certificate in days.
    #[arg(long, default_value_t = 365)]
    days: i64,
}

pub(crate) fn run(command: K8sCommand) -> anyhow::Result<ExitCode> {
    match command {
        K8sCommand::WebhookConfig(args) => webhook_config(&args),
    }
}

fn webhook_config(args: &WebhookConfigArgs) -> anyhow::Result<ExitCode> {
    let name = &args.cluster;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !valid {
        anyhow::bail!("--cluster {name:?}: use letters, digits, '-', '_' or '.'");
    }
    if args.days < 1 {
        anyhow::bail!("--days must be at least 1");
    }
    crate::data_dir::ready(&args.data, false)?;
    let ca = LocalCa::load_or_create(&args.data.join("tls")).context("the data directory's CA")?;
    let pair = ca.issue_client(name, args.days)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let server = format!("{}/k8s-audit/{name}", args.server.trim_end_matches('/'));
    let kubeconfig = format!(
        "# The kube-apiserver's audit webhook configuration for cluster {name} (written by whodid k8s webhook-config).
apiVersion: v1
kind: Config
clusters:
  - name: whodid
    cluster:
      server: {server}
      certificate-authority-data: {ca}
users:
  - name: {name}
    user:
      client-certificate-data: {cert}
      client-key-data: {key}
contexts:
  - name: whodid
    context:
      cluster: whodid
      user: {name}
current-context: whodid
",
        ca = b64(ca.cert_pem()),
        cert = b64(&pair.cert),
        key = b64(&pair.key),
    );
    let config_path = args.out.join(format!("webhook-{name}.kubeconfig"));
    let cert_path = args.out.join(format!("{name}-client.crt"));
    let key_path = args.out.join(format!("{name}-client.key"));
    write_private(&config_path, kubeconfig.as_bytes(), 0o600)?;
    write_private(&cert_path, pair.cert.as_bytes(), 0o644)?;
    write_private(&key_path, pair.key.as_bytes(), 0o600)?;
    let dir = args.install_dir.trim_end_matches('/');
    println!(
        "Wrote {config} (the webhook kubeconfig, with the client certificate inside),
      {cert} and {key} (the same certificate and key as files).

Copy the kubeconfig to {dir}/ on every control-plane node, then start kube-apiserver with:

  --audit-policy-file=/etc/kubernetes/audit-policy.yaml
      which requests are recorded and at what level (check it first: whodid policy check FILE)
  --audit-webhook-config-file={dir}/webhook-{name}.kubeconfig
      where to send events ({server}) and the client certificate that identifies cluster {name}
  --audit-webhook-mode=batch
      buffer events and send them in the background (the default); blocking modes add whodid's latency to every API request
  --audit-webhook-batch-buffer-size=10000
      events held while whodid is unreachable; once full, the apiserver drops events — whodid records the silence as a gap
  --audit-webhook-batch-max-size=400
      events per POST (the default)
  --audit-webhook-batch-max-wait=5s
      send at least this often (default 30s): less is lost from the buffer if the apiserver dies
  --audit-webhook-batch-throttle-enable=false
      the default throttle (10 batches/s = 4,000 events/s) is far below what whodid accepts; keep it on only to protect a shared receiver
  --audit-webhook-initial-backoff=10s
      first retry delay after an error (the default; retries use 5 steps with factor 1.5)

Then add the cluster to whodid's configuration:

  clusters:
    - name: {name}
      policy: /etc/whodid/{name}-policy.yaml   # optional: filter again at whodid
      silence_limit: 10m                       # a gap record when the cluster goes quiet",
        config = config_path.display(),
        cert = cert_path.display(),
        key = key_path.display(),
    );
    Ok(ExitCode::SUCCESS)
}
