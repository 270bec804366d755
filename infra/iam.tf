# Identities. One runtime service account per function with only what it needs; a
# build account for Cloud Build; the scheduler's caller identity; the migrator; and
# the GitHub deployer, reached through Workload Identity Federation (no keys).

resource "google_service_account" "function" {
  for_each     = local.functions
  account_id   = local.function_account_ids[each.key]
  display_name = "Sealy function ${each.key} (runtime)"
}

resource "google_service_account" "build" {
  account_id   = local.names.build_service_account
  display_name = "Sealy function builds (Cloud Build)"
}

resource "google_service_account" "scheduler" {
  account_id   = local.names.scheduler_service_account
  display_name = "Sealy Cloud Scheduler caller (OIDC identity for dispatch)"
}

resource "google_service_account" "migrator" {
  account_id   = "sealy-migrate"
  display_name = "Sealy database migrations (CI)"
}

resource "google_service_account" "deployer" {
  account_id   = "sealy-deploy"
  display_name = "Sealy function deploys (CI)"
}

locals {
  # Cloud SQL roles are granted on the project (they have no resource-level IAM) but
  # conditioned to the one instance.
  sql_condition = {
    title      = "sealy-sql-instance-only"
    expression = "resource.type == \"sqladmin.googleapis.com/Instance\" && resource.name == \"projects/${var.project_id}/instances/${local.names.sql_instance}\""
  }
  # The functions, the migrator, and the people in db_admin_users (a database login is
  # of no use without the roles that let the connector or the Auth Proxy reach the instance).
  sql_members = merge(
    { for name, sa in google_service_account.function : "function-${name}" => sa.member },
    { migrator = google_service_account.migrator.member },
    { for email in var.db_admin_users : "admin-${email}" => "user:${email}" },
  )
  sql_grants = {
    for pair in setproduct(keys(local.sql_members), ["roles/cloudsql.client", "roles/cloudsql.instanceUser"]) :
    "${pair[0]}/${pair[1]}" => { member = local.sql_members[pair[0]], role = pair[1] }
  }
}

resource "google_project_iam_member" "sql" {
  for_each = local.sql_grants
  project  = var.project_id
  role     = each.value.role
  member   = each.value.member

  condition {
    title      = local.sql_condition.title
    expression = local.sql_condition.expression
  }
}

# Roles by functions.json "extras" (notifications sends push through FCM).
resource "google_project_iam_member" "function_extra" {
  for_each = local.function_extra_roles
  project  = local.firebase_project
  role     = each.value.role
  member   = google_service_account.function[each.value.function].member
}

# Cloud Build for the functions: write logs and the built images, and read the source.
# Cloud Functions copies a function's source into its own bucket,
# gcf-v2-sources-<project number>-<region>, and the build fetches it from there, so the
# build account needs Storage Object Viewer on that bucket (a bucket the project does not
# manage: granted on the project, conditioned to that one bucket).
locals {
  gcf_sources_bucket = "gcf-v2-sources-${data.google_project.this.number}-${var.region}"
}

resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])
  project  = var.project_id
  role     = each.value
  member   = google_service_account.build.member
}

resource "google_project_iam_member" "build_reads_gcf_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member

  condition {
    title      = "gcf-v2-sources-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${local.gcf_sources_bucket}\")"
  }
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# New IAM grants take a while to reach Cloud Build: the first function builds wait for
# them (the provider's own custom build account example waits 60 s).
resource "time_sleep" "build_permissions" {
  create_duration = "60s"
  triggers = {
    roles = join(",", concat(
      [for m in google_project_iam_member.build : m.id],
      [google_project_iam_member.build_reads_gcf_sources.id, google_storage_bucket_iam_member.build_reads_sources.id],
    ))
  }
}

# --- GitHub Actions through Workload Identity Federation --------------------------------

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "sealy-github"
  display_name              = "GitHub Actions"
  depends_on                = [google_project_service.apis]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub OIDC"

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }
  # Only jobs of this repository's main branch get a token at all. The deploy jobs use
  # no GitHub environment, so their subject is exactly repo:<owner>/<repo>:ref:refs/heads/main.
  attribute_condition = "assertion.sub == 'repo:${var.github_owner}/${var.github_repo}:ref:refs/heads/main'"

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

locals {
  github_principal = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_owner}/${var.github_repo}"
}

resource "google_service_account_iam_member" "github_deployer" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = local.github_principal
}

resource "google_service_account_iam_member" "github_migrator" {
  service_account_id = google_service_account.migrator.name
  role               = "roles/iam.workloadIdentityUser"
  member             = local.github_principal
}

# The deployer updates functions, uploads their sources, and acts as their runtime and
# build accounts; nothing else.
resource "google_project_iam_member" "deployer_functions" {
  project = var.project_id
  role    = "roles/cloudfunctions.developer"
  member  = google_service_account.deployer.member
}

resource "google_storage_bucket_iam_member" "deployer_sources" {
  for_each = toset(["roles/storage.objectCreator", "roles/storage.objectViewer"])
  bucket   = google_storage_bucket.sources.name
  role     = each.value
  member   = google_service_account.deployer.member
}

resource "google_service_account_iam_member" "deployer_acts_as_function" {
  for_each           = local.functions
  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}

resource "google_service_account_iam_member" "deployer_acts_as_build" {
  service_account_id = google_service_account.build.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}
