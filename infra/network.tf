# A VPC for private traffic: Cloud SQL's private IP (private services access) and the
# Serverless VPC Access connector the functions use to reach it.

resource "google_compute_network" "main" {
  name                    = "sealy"
  auto_create_subnetworks = false
  depends_on              = [google_project_service.apis]
}

locals {
  # First and last address of each range we place in the VPC, as numbers.
  ranges = {
    vpc_connector    = var.vpc_connector_cidr
    private_services = var.private_services_cidr
  }
  range_bounds = {
    for name, cidr in local.ranges : name => [
      for address in [cidrhost(cidr, 0), cidrhost(cidr, -1)] :
      sum([for i, octet in split(".", address) : tonumber(octet) * pow(256, 3 - i)])
    ]
  }
  ranges_overlap = !(
    local.range_bounds.vpc_connector[1] < local.range_bounds.private_services[0] ||
    local.range_bounds.private_services[1] < local.range_bounds.vpc_connector[0]
  )
}

# Pinned, not left to Google's choice: an automatic allocation could overlap the
# connector's range.
resource "google_compute_global_address" "private_services" {
  name          = "sealy-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  address       = split("/", var.private_services_cidr)[0]
  prefix_length = tonumber(split("/", var.private_services_cidr)[1])
  network       = google_compute_network.main.id

  lifecycle {
    precondition {
      condition     = !local.ranges_overlap
      error_message = "private_services_cidr overlaps vpc_connector_cidr: choose ranges apart."
    }
  }
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.main.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
}

resource "google_vpc_access_connector" "main" {
  name          = local.names.vpc_connector
  region        = var.region
  network       = google_compute_network.main.name
  ip_cidr_range = var.vpc_connector_cidr
  machine_type  = "e2-micro"
  min_instances = 2
  max_instances = 3
  depends_on    = [google_project_service.apis]
}

# Nothing in this VPC accepts connections from outside it: deny all ingress explicitly
# (the connector and Cloud SQL's peering need no ingress rule).
resource "google_compute_firewall" "deny_all_ingress" {
  name      = "sealy-deny-all-ingress"
  network   = google_compute_network.main.name
  direction = "INGRESS"
  priority  = 65534

  deny {
    protocol = "all"
  }
  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "EXCLUDE_ALL_METADATA"
  }
}
