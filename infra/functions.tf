# The Cloud Functions, one per functions.json entry.
#
# Source: `scripts/stage_function.py all` (or `./deploy.sh --dry-run all`) stages
# build/<fn>/ first. Its hash (the same formula as stage_function.source_hash) names the
# zip object, so a change of code uploads a new object and redeploys the function, and
# deploy.sh, which uploads the same folder under the same name, causes no drift.

locals {
  build_dir = "${path.module}/../build"
  source_hash = {
    for name in keys(local.functions) :
    name => sha256(join("\n", [
      for f in sort(fileset("${local.build_dir}/${name}", "**")) :
      "${f}:${filesha256("${local.build_dir}/${name}/${f}")}"
    ]))
  }
  # Values for the ${...} templates in functions.json (see scripts/deploy_plan.py).
  function_env = {
    for name, fn in local.functions : name => {
      for key, template in merge(local.catalog.deploy.env, try(fn.env, {})) :
      key => templatestring(template, {
        project                   = var.project_id
        region                    = var.region
        function                  = name
        release                   = substr(local.source_hash[name], 0, 12)
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
      })
    }
  }
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

data "archive_file" "source" {
  for_each    = local.functions
  type        = "zip"
  source_dir  = "${local.build_dir}/${each.key}"
  output_path = "${local.build_dir}/terraform/${each.key}-${local.source_hash[each.key]}.zip"

  lifecycle {
    precondition {
      condition     = fileexists("${local.build_dir}/${each.key}/main.py")
      error_message = "build/${each.key}/ is not staged: run `python3 scripts/stage_function.py all` first."
    }
  }
}

resource "google_storage_bucket_object" "source" {
  for_each = local.functions
  bucket   = google_storage_bucket.sources.name
  name     = "${each.key}/${local.source_hash[each.key]}.zip"
  source   = data.archive_file.source[each.key].output_path
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
        object = google_storage_bucket_object.source[each.key].name
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

    dynamic "secret_environment_variables" {
      for_each = toset(each.value.secrets)
      content {
        key        = upper(replace(secret_environment_variables.value, "-", "_"))
        project_id = var.project_id
        secret     = google_secret_manager_secret.main[secret_environment_variables.value].secret_id
        version    = var.secret_versions[secret_environment_variables.value]
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.function,
    google_project_iam_member.sql,
    google_project_iam_member.build,
    google_storage_bucket_iam_member.build_reads_sources,
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
