/*
 * static_data.c - GET /api/static-data/: every lookup the app shows in its
 * pickers, in one response that clients cache for a day and revalidate with
 * its ETag. The lookups change only with a release, so they live here, and
 * the ETag is computed once per process.
 */
#include "handlers.h"
#include "crypto.h"

static const char static_data[] =
    "{\"categories\":["
    "{\"id\":\"general\",\"name\":\"General\"},{\"id\":\"hvac\",\"name\":\"Heating & cooling\"},"
    "{\"id\":\"plumbing\",\"name\":\"Plumbing\"},{\"id\":\"electrical\",\"name\":\"Electrical\"},"
    "{\"id\":\"appliances\",\"name\":\"Appliances\"},{\"id\":\"exterior\",\"name\":\"Exterior\"},"
    "{\"id\":\"interior\",\"name\":\"Interior\"},{\"id\":\"landscaping\",\"name\":\"Landscaping\"},"
    "{\"id\":\"safety\",\"name\":\"Safety\"},{\"id\":\"cleaning\",\"name\":\"Cleaning\"},"
    "{\"id\":\"pest_control\",\"name\":\"Pest control\"},{\"id\":\"roofing\",\"name\":\"Roofing\"},"
    "{\"id\":\"pool\",\"name\":\"Pool & spa\"},{\"id\":\"other\",\"name\":\"Other\"}],"
    "\"priorities\":["
    "{\"id\":\"low\",\"name\":\"Low\"},{\"id\":\"medium\",\"name\":\"Medium\"},"
    "{\"id\":\"high\",\"name\":\"High\"},{\"id\":\"urgent\",\"name\":\"Urgent\"}],"
    "\"frequencies\":["
    "{\"id\":\"once\",\"name\":\"One time\",\"days\":null},"
    "{\"id\":\"daily\",\"name\":\"Daily\",\"days\":1},"
    "{\"id\":\"weekly\",\"name\":\"Weekly\",\"days\":7},"
    "{\"id\":\"biweekly\",\"name\":\"Every 2 weeks\",\"days\":14},"
    "{\"id\":\"monthly\",\"name\":\"Monthly\",\"months\":1},"
    "{\"id\":\"quarterly\",\"name\":\"Quarterly\",\"months\":3},"
    "{\"id\":\"semiannually\",\"name\":\"Every 6 months\",\"months\":6},"
    "{\"id\":\"annually\",\"name\":\"Yearly\",\"months\":12},"
    "{\"id\":\"custom\",\"name\":\"Every N days\",\"days\":null}],"
    "\"residence_types\":["
    "{\"id\":\"house\",\"name\":\"House\"},{\"id\":\"apartment\",\"name\":\"Apartment\"},"
    "{\"id\":\"condo\",\"name\":\"Condo\"},{\"id\":\"townhouse\",\"name\":\"Townhouse\"},"
    "{\"id\":\"cabin\",\"name\":\"Cabin\"},{\"id\":\"other\",\"name\":\"Other\"}],"
    "\"document_types\":["
    "{\"id\":\"warranty\",\"name\":\"Warranty\"},{\"id\":\"manual\",\"name\":\"Manual\"},"
    "{\"id\":\"receipt\",\"name\":\"Receipt\"},{\"id\":\"insurance\",\"name\":\"Insurance\"},"
    "{\"id\":\"other\",\"name\":\"Other\"}],"
    "\"contractor_specialties\":["
    "{\"id\":\"general\",\"name\":\"General contractor\"},{\"id\":\"hvac\",\"name\":\"HVAC\"},"
    "{\"id\":\"plumbing\",\"name\":\"Plumbing\"},{\"id\":\"electrical\",\"name\":\"Electrical\"},"
    "{\"id\":\"roofing\",\"name\":\"Roofing\"},{\"id\":\"landscaping\",\"name\":\"Landscaping\"},"
    "{\"id\":\"cleaning\",\"name\":\"Cleaning\"},{\"id\":\"pest_control\",\"name\":\"Pest "
    "control\"},"
    "{\"id\":\"appliance_repair\",\"name\":\"Appliance repair\"},"
    "{\"id\":\"handyman\",\"name\":\"Handyman\"},{\"id\":\"other\",\"name\":\"Other\"}]}";

int static_data_get(req *r)
{
    static char digest[17];
    if (digest[0] == '\0')
        crypto_etag(static_data, sizeof(static_data) - 1, digest);
    r->cache_control = "public, max-age=86400";
    return resp_etagged(r, digest, static_data, sizeof(static_data) - 1);
}
