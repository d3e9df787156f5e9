#include <jambox/control/identity.hpp>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace jambox::control {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
struct X509Free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const noexcept { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const noexcept { X509_STORE_CTX_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "not PEM";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

std::unique_ptr<std::FILE, FileCloser> open_file(const std::filesystem::path& path,
                                                 const char* what) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    throw IdentityError(std::string(what) + " " + path.string() + ": cannot read (" +
                        std::strerror(errno) + ")");
  }
  return std::unique_ptr<std::FILE, FileCloser>(f);
}

X509Ptr read_cert(const std::filesystem::path& path, const char* what) {
  const auto f = open_file(path, what);
  X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    throw IdentityError(std::string(what) + " " + path.string() + ": not a PEM certificate (" +
                        openssl_reason() + ")");
  }
  return cert;
}

std::chrono::system_clock::time_point to_time(const ASN1_TIME* t) {
  struct tm parts {};
  if (ASN1_TIME_to_tm(t, &parts) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

std::string common_name(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  const unsigned char* bytes = ASN1_STRING_get0_data(data);
  return std::string(reinterpret_cast<const char*>(bytes),
                     static_cast<std::size_t>(ASN1_STRING_length(data)));
}

std::string utc(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  struct tm parts {};
  gmtime_r(&tt, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &parts);
  return text;
}

void check_key_mode(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw IdentityError("private key " + path.string() + ": cannot read (" + std::strerror(errno) +
                        ")");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw IdentityError("private key " + path.string() + " has mode " + mode +
                        ": group and others must not read it (chmod 600 " + path.string() + ")");
  }
}

}  // namespace

long Identity::days_left(std::chrono::system_clock::time_point now) const {
  const auto left = std::chrono::duration_cast<std::chrono::hours>(not_after - now).count();
  return static_cast<long>(left >= 0 ? left / 24 : -((-left + 23) / 24));
}

std::chrono::system_clock::time_point earliest_plausible_time() {
  // 2026-01-01: no box built from this source runs earlier than that with a synchronised clock.
  return std::chrono::system_clock::from_time_t(1767225600);
}

Identity check_identity(const TlsFiles& files, const std::string& expected_cn,
                        std::chrono::system_clock::time_point now) {
  const X509Ptr ca = read_cert(files.ca, "CA certificate");
  const X509Ptr cert = read_cert(files.cert, "certificate");
  check_key_mode(files.key);
  std::unique_ptr<EVP_PKEY, KeyFree> key;
  {
    const auto f = open_file(files.key, "private key");
    key.reset(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
    if (!key) {
      throw IdentityError("private key " + files.key.string() +
                          ": not a PEM private key, or encrypted (" + openssl_reason() + ")");
    }
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    throw IdentityError("private key " + files.key.string() + " does not belong to certificate " +
                        files.cert.string());
  }

  Identity id;
  id.common_name = common_name(cert.get());
  id.not_before = to_time(X509_get0_notBefore(cert.get()));
  id.not_after = to_time(X509_get0_notAfter(cert.get()));
  id.clock_plausible = now >= earliest_plausible_time();
  if (id.common_name != expected_cn) {
    throw IdentityError("certificate " + files.cert.string() + " is issued to CN '" +
                        id.common_name + "', but this box's player key is '" + expected_cn +
                        "': the broker identifies the box by the certificate's CN");
  }

  // Issued by our CA? Time checks are ours (below), so the chain is verified without them.
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    throw IdentityError("cannot set up certificate verification: " + openssl_reason());
  }
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_NO_CHECK_TIME);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    throw IdentityError("certificate " + files.cert.string() + " is not signed by the CA in " +
                        files.ca.string() + " (" + X509_verify_cert_error_string(err) + ")");
  }

  if (id.clock_plausible) {
    if (now > id.not_after) {
      throw IdentityError("certificate " + files.cert.string() + " expired on " +
                          utc(id.not_after) + ": install a renewed certificate");
    }
    // A certificate issued moments ago on a CA whose clock runs a little ahead is fine.
    if (now + std::chrono::minutes(5) < id.not_before) {
      throw IdentityError("certificate " + files.cert.string() + " is valid only from " +
                          utc(id.not_before) + " (the clock says " + utc(now) + ")");
    }
  }
  return id;
}

const char* identity_file_key(const IdentityError& error) noexcept {
  const std::string_view what = error.what();
  if (what.starts_with("private key")) return "key_file";
  if (what.starts_with("CA")) return "ca_file";
  return "cert_file";
}

std::string normalize_broker_uri(std::string uri, std::string& problem) {
  const auto scheme_end = uri.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : uri.substr(0, scheme_end);
  if (scheme != "ssl" && scheme != "mqtts" && scheme != "wss" && scheme != "tcp") {
    problem =
        "expected ssl://HOST[:PORT] (mutual TLS, default port 8883), "
        "wss://HOST[:PORT]/PATH, or tcp://HOST:PORT for a lab without TLS";
    return {};
  }
  const std::string rest = uri.substr(scheme_end + 3);
  if (rest.empty() || rest.front() == ':' || rest.front() == '/') {
    problem = "no host name in '" + uri + "'";
    return {};
  }
  const bool has_port = rest.find(']') != std::string::npos ? rest.find("]:") != std::string::npos
                                                            : rest.find(':') != std::string::npos;
  if ((scheme == "ssl" || scheme == "mqtts") && !has_port) uri += ":8883";
  if (scheme == "mqtts") uri = "ssl" + uri.substr(5);
  return uri;
}

}  // namespace jambox::control
