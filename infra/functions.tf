# The Cloud Functions, one per functions.json entry.
#
# Who owns what (docs/deployment.md, "Terraform and deploy.sh"): Terraform creates each
# function and owns its settings (memory, scaling, identity, network, environment,
# secrets); deploy.sh alone owns its code. Terraform creates a function with a placeholder
# that answers 503 until the first ./deploy.sh, and ignores the source and RELEASE from
# then on, so an apply never rolls code back and a deploy never shows up as drift. Both
# render the settings from functions.json the same way (scripts/deploy_plan.py), with
# the secrets' project given as the project number, which is what gcloud stores.

data "google_project" "this" {
  project_id = var.project_id
  depends_on = [google_project_service.apis]
}

locals {
  # Values for the ${...} templates in functions.json (see scripts/deploy_plan.py); a
  # variable that renders empty is left out, as deploy.sh leaves it out. RELEASE is
  # deploy.sh's (the staged source hash); Terraform ignores it after creation.
  function_env = {
    for name, fn in local.functions : name => {
      for key, value in {
        for key, template in merge(local.catalog.deploy.env, try(fn.env, {})) :
        key => templatestring(template, {
          project                   = var.project_id
          region                    = var.region
          function                  = name
          release                   = "placeholder"
          threads                   = fn.threads
          pool_size                 = fn.pool_size
          max_overflow              = fn.max_overflow
          sql_instance              = local.sql_connection_name
          db_name                   = local.names.database
          db_user                   = "${local.function_account_ids[name]}@${var.project_id}.iam"
          api_host                  = local.api_host
          jwt_signing_kid           = var.jwt_signing_kid
          scheduler_service_account = google_service_account.scheduler.email
          firebase_project          = local.firebase_project
          cors_origins              = join(",", var.cors_origins)
          google_client_ids         = join(",", var.google_client_ids)
          apple_client_ids          = join(",", var.apple_client_ids)
          smtp_host                 = var.smtp_host
          smtp_port                 = var.smtp_port
          smtp_user                 = var.smtp_user
          smtp_from                 = var.smtp_from
        })
      } : key => value if value != ""
    }
  }
  # functions-framework at the version the functions run (the placeholder needs only it).
  functions_framework_pin = regex("(?m)^functions-framework==\\S+", file("${path.module}/../requirements/runtime.txt"))
}

resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62: holds only build inputs named by content hash, written by Terraform and the deployer; Cloud Audit Logs record who wrote what, and an access-log bucket would add cost without information.
  name                        = local.names.source_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # Objects are named by content hash and never overwritten; old noncurrent versions
  # (only left by a manual overwrite) are removed after 30 days.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }
}

# The code a function is created with: answers 503 until deploy.sh puts the real code
# there. It never changes with the code, so nothing here needs build/ staged.
data "archive_file" "placeholder" {
  for_each    = local.functions
  type        = "zip"
  output_path = "${path.module}/.terraform/sealy-placeholder/${each.key}.zip"

  source {
    filename = "main.py"
    content  = <<-EOT
      def ${each.value.entry_point}(request):
          return ("${each.key}: not deployed yet (./deploy.sh ${each.key})\n", 503)
    EOT
  }
  source {
    filename = "requirements.txt"
    content  = "${local.functions_framework_pin}\n"
  }
}

resource "google_storage_bucket_object" "placeholder" {
  for_each = local.functions
  bucket   = google_storage_bucket.sources.name
  name     = "${each.key}/placeholder-${data.archive_file.placeholder[each.key].output_sha256}.zip"
  source   = data.archive_file.placeholder[each.key].output_path
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions
  name     = each.key
  location = var.region

  build_config {
    runtime         = local.catalog.deploy.runtime
    entry_point     = each.value.entry_point
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.placeholder[each.key].name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout_s
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    service_account_email            = google_service_account.function[each.key].email
    # Only the load balancer (and internal callers) reach the function: its default
    # URL cannot be used to bypass Cloudflare and Cloud Armor.
    ingress_settings               = "ALLOW_INTERNAL_AND_GCLB"
    all_traffic_on_latest_revision = true
    vpc_connector                  = google_vpc_access_connector.main.id
    vpc_connector_egress_settings  = "PRIVATE_RANGES_ONLY"
    environment_variables          = local.function_env[each.key]

    # In key order, as gcloud sorts them; the project as its number, as gcloud stores it.
    dynamic "secret_environment_variables" {
      for_each = { for s in each.value.secrets : upper(replace(s, "-", "_")) => s }
      content {
        key        = secret_environment_variables.key
        project_id = data.google_project.this.number
        secret     = google_secret_manager_secret.main[secret_environment_variables.value].secret_id
        version    = var.secret_versions[secret_environment_variables.value]
      }
    }
  }

  lifecycle {
    # The code is deploy.sh's: the source it deployed, and its RELEASE.
    ignore_changes = [
      build_config[0].source,
      service_config[0].environment_variables["RELEASE"],
    ]
  }

  depends_on = [
    google_secret_manager_secret_iam_member.function,
    google_project_iam_member.sql,
    time_sleep.build_permissions,
  ]
}

# The load balancer calls without a Google identity; ingress ALLOW_INTERNAL_AND_GCLB is
# what keeps the functions private. Each function authenticates its own users (JWT).
resource "google_cloud_run_service_iam_member" "public_invoker" {
  # checkov:skip=CKV_GCP_102: the API is public by design and users authenticate with JWTs in the function; ingress ALLOW_INTERNAL_AND_GCLB admits only the load balancer, whose Cloud Armor policy admits only Cloudflare.
  for_each = local.functions
  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
