# Cloud SQL for PostgreSQL: private IP for the functions, IAM database authentication,
# backups with point-in-time recovery, deletion protection, and max_connections set to
# the budget in functions.json (the pool sizes are checked against it).

resource "google_sql_database_instance" "main" {
  # checkov:skip=CKV_GCP_60: a public IP exists only with var.sql_public_ip (for the CI migrations job); it has no authorized networks, so only the Cloud SQL connector / Auth Proxy (IAM + mTLS client certificates) can connect. Functions use the private IP.
  # checkov:skip=CKV2_GCP_13: log_duration logs a line for every statement of every request; latency per request is in the structured request log (latency_ms, db_ms) and slow statements in Query Insights.
  name                = local.names.sql_instance
  region              = var.region
  database_version    = var.sql_database_version
  deletion_protection = true # Terraform refuses to destroy it

  settings {
    tier                        = var.sql_tier
    edition                     = "ENTERPRISE"
    availability_type           = var.sql_availability_type
    disk_autoresize             = true
    deletion_protection_enabled = true # the API refuses to delete it, whoever asks

    ip_configuration {
      private_network                               = google_compute_network.main.id
      enable_private_path_for_google_cloud_services = true
      # No authorized networks: a public IP (if enabled) only answers the Cloud SQL
      # connector / Auth Proxy, which authenticate with IAM and mutual TLS.
      ipv4_enabled = var.sql_public_ip
      # TLS with a client certificate: the connector and the Auth Proxy present
      # ephemeral IAM-issued certificates, so they (and only they) get in.
      ssl_mode = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "02:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7
      backup_retention_settings {
        retained_backups = 14
      }
    }

    maintenance_window {
      day          = 7 # Sunday
      hour         = 3
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = false
      record_client_address   = false
    }

    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }
    database_flags {
      name  = "max_connections"
      value = tostring(local.db.max_connections)
    }
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1" # statement logging off: statements can carry personal data
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    database_flags {
      name  = "pgaudit.log"
      value = "ddl,role"
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "main" {
  name     = local.names.database
  instance = google_sql_database_instance.main.name
}

# One IAM database user per function, named by Cloud SQL's rule for service accounts:
# the email without ".gserviceaccount.com" (the DB_USER the function gets).
resource "google_sql_user" "function" {
  for_each = local.functions
  instance = google_sql_database_instance.main.name
  name     = trimsuffix(google_service_account.function[each.key].email, ".gserviceaccount.com")
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
}

# The identity that runs migrations (CI's migrate job) and owns the schema.
resource "google_sql_user" "migrator" {
  instance = google_sql_database_instance.main.name
  name     = trimsuffix(google_service_account.migrator.email, ".gserviceaccount.com")
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
}

resource "google_sql_user" "admins" {
  for_each = toset(var.db_admin_users)
  instance = google_sql_database_instance.main.name
  name     = each.value
  type     = "CLOUD_IAM_USER"
}
