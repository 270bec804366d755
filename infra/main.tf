# The list of functions and the names shared with deploy.sh come from functions.json
# at the repository root: adding a function there adds its service account, secrets
# access, database user, function, NEG, backend, route, uptime check and alerts here.

locals {
  catalog   = jsondecode(file("${path.module}/../functions.json"))
  functions = { for fn in local.catalog.functions : fn.name => fn }
  db        = local.catalog.database

  api_host         = "${var.api_subdomain}.${var.domain}"
  firebase_project = coalesce(var.firebase_project_id, var.project_id)

  # Names shared with scripts/deploy_plan.py (functions.json "deploy.names").
  names = {
    for key, template in local.catalog.deploy.names :
    key => templatestring(template, { project = var.project_id, function = "" })
    if key != "function_service_account"
  }
  function_account_ids = {
    for name, fn in local.functions :
    name => templatestring(local.catalog.deploy.names.function_service_account, {
      project  = var.project_id
      function = name
    })
  }

  sql_connection_name = "${var.project_id}:${var.region}:${local.names.sql_instance}"
  # Every secret some function reads, and who reads it: "<function>/<secret>" pairs.
  secret_names = toset(flatten([for fn in local.catalog.functions : fn.secrets]))
  secret_access = {
    for pair in flatten([
      for fn in local.catalog.functions : [for s in fn.secrets : { function = fn.name, secret = s }]
    ]) : "${pair.function}/${pair.secret}" => pair
  }
  # "<function>/<schedule>" for every schedules[] entry.
  schedules = {
    for item in flatten([
      for fn in local.catalog.functions : [
        for s in try(fn.schedules, []) : merge(s, { function = fn.name })
      ]
    ]) : "${item.function}/${item.name}" => item
  }
  # Extra project roles by functions.json "extras".
  extra_roles = {
    notifications = ["roles/firebasecloudmessaging.admin"]
  }
  function_extra_roles = {
    for item in flatten([
      for fn in local.catalog.functions : [
        for extra in fn.extras : [
          for role in lookup(local.extra_roles, extra, []) : { function = fn.name, role = role }
        ]
      ]
    ]) : "${item.function}/${item.role}" => item
  }
}

check "connection_budget" {
  assert {
    condition = (
      sum([for fn in local.catalog.functions : fn.max_instances * (fn.pool_size + fn.max_overflow)])
      + local.db.reserved_connections <= local.db.max_connections
    )
    error_message = "functions.json: sum(max_instances * (pool_size + max_overflow)) + reserved_connections exceeds database.max_connections."
  }
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    # Project IAM bindings, and gcloud's project-number lookup (gcloud functions deploy).
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "fcm.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com", # also enabled by hand for the state bucket (docs/deployment.md)
    "sts.googleapis.com",
    "vpcaccess.googleapis.com",
  ])
  service = each.value
  # Turning an API off on `destroy` would break whatever else in the project uses it.
  disable_on_destroy = false
}
