output "api_url" {
  description = "Public base URL of the API."
  value       = "https://${local.api_host}"
}

output "load_balancer_ip" {
  description = "The load balancer's address (Cloudflare's record points here)."
  value       = google_compute_global_address.api.address
}

output "sql_connection_name" {
  description = "Cloud SQL instance connection name (CLOUD_SQL_INSTANCE, Auth Proxy argument)."
  value       = google_sql_database_instance.main.connection_name
}

output "migrator_db_user" {
  description = "IAM database user that runs migrations."
  value       = google_sql_user.migrator.name
}

output "workload_identity_provider" {
  description = "For the GitHub variable GCP_WORKLOAD_IDENTITY_PROVIDER."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "deployer_service_account" {
  description = "For the GitHub variable GCP_DEPLOY_SERVICE_ACCOUNT."
  value       = google_service_account.deployer.email
}

output "migrator_service_account" {
  description = "For the GitHub variable GCP_MIGRATE_SERVICE_ACCOUNT."
  value       = google_service_account.migrator.email
}

output "deploy_env" {
  description = "deploy.sh's configuration: mkdir -p ../.sealy && terraform output -raw deploy_env > ../.sealy/deploy.env"
  value       = <<-EOT
    SEALY_PROJECT=${var.project_id}
    SEALY_REGION=${var.region}
    SEALY_API_HOST=${local.api_host}
    SEALY_SECRET_VERSIONS=${join(",", [for k in sort(keys(var.secret_versions)) : "${k}=${var.secret_versions[k]}"])}
    SEALY_JWT_SIGNING_KID=${var.jwt_signing_kid}
    SEALY_FIREBASE_PROJECT=${local.firebase_project}
    SEALY_CORS_ORIGINS=${join(",", var.cors_origins)}
    SEALY_GOOGLE_CLIENT_IDS=${join(",", var.google_client_ids)}
    SEALY_APPLE_CLIENT_IDS=${join(",", var.apple_client_ids)}
    SEALY_SMTP_HOST=${var.smtp_host}
    SEALY_SMTP_PORT=${var.smtp_port}
    SEALY_SMTP_USER=${var.smtp_user}
    SEALY_SMTP_FROM=${var.smtp_from}
  EOT
}
