terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  backend "s3" {}
}
