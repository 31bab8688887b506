# -*- coding: utf-8 -*-
# Copyright: Contributors to the ceds.generate collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options shared by every module that reaches a Generate database."""

    DOCUMENTATION = r"""
options:
  server:
    description:
      - SQL Server host, C(host\instance) for a named instance, or C(host,port).
      - Falls back to the E(GENERATE_DB_SERVER) environment variable.
      - Required unless O(connection_string) (or E(GENERATE_DB_CONNECTION_STRING)) is given.
    type: str
  port:
    description:
      - TCP port of SQL Server.
      - Falls back to E(GENERATE_DB_PORT); when neither is set, C(1433) for the Microsoft and FreeTDS
        drivers (not added for a named instance), and the driver's own default for other drivers.
    type: int
  database:
    description:
      - Name of the Generate database.
      - Falls back to E(GENERATE_DB_NAME) (an empty variable counts as unset).
      - Not used with O(connection_string), which names its own C(DATABASE).
    type: str
    default: generate
  username:
    description:
      - SQL login name. Falls back to E(GENERATE_DB_USERNAME).
      - Leave unset for a driver that authenticates otherwise (use O(connection_string) for Windows or Kerberos
        authentication).
    type: str
  password:
    description:
      - Password of O(username). Falls back to E(GENERATE_DB_PASSWORD), or to the content of the file that
        E(GENERATE_DB_PASSWORD_FILE) names, without one trailing newline (as an AWX file injector writes it).
      - This option wins over both variables; setting both variables is an error, and so is a file that cannot be
        read or is empty.
      - It may hold any character; it is quoted for the ODBC connection string and never shown in any output.
    type: str
  driver:
    description:
      - Name of the ODBC driver as registered with unixODBC (see C(odbcinst -q -d)).
      - Falls back to E(GENERATE_DB_DRIVER) (an empty variable counts as unset).
      - Not used with O(connection_string), which names its own C(DRIVER).
      - The connection string is written for the driver. Microsoft ODBC Driver 17/18 get C(SERVER=host,port),
        C(Encrypt) and C(TrustServerCertificate). FreeTDS gets C(SERVER), C(PORT), C(TDS_Version=7.4) and
        C(Encryption). Any other driver gets the generic C(DRIVER;SERVER;PORT;DATABASE;UID;PWD) keywords, and
        O(connect_params) for the rest.
    type: str
    default: ODBC Driver 18 for SQL Server
  encrypt:
    description:
      - Whether the connection must be encrypted (C(Encrypt=yes) for Microsoft drivers, C(Encryption=require)
        for FreeTDS).
    type: bool
    default: true
  trust_server_certificate:
    description:
      - Accept the server's certificate without checking it (C(TrustServerCertificate=yes)).
      - Generate's own C(appsettings.json) does this; prefer a certificate the client trusts.
    type: bool
    default: false
  connect_timeout:
    description:
      - Seconds to wait for a connection before giving up (1 to 600).
    type: int
    default: 15
  query_timeout:
    description:
      - Seconds one statement may take before it is cancelled (1 to 3600), for example while another session
        holds a lock on a step. Nothing is written when it expires.
    type: int
    default: 60
  connection_string:
    description:
      - A full ODBC connection string, for a DSN, Windows or Kerberos authentication, or another driver.
      - Falls back to E(GENERATE_DB_CONNECTION_STRING), or to the content of the file that
        E(GENERATE_DB_CONNECTION_STRING_FILE) names, without one trailing newline (as an AWX file injector writes
        it), when none of the separate connection options is given.
      - Setting both variables is an error, and so is a file that cannot be read or is empty.
      - Mutually exclusive with O(server), O(port), O(username), O(password), O(encrypt),
        O(trust_server_certificate) and O(connect_params); O(database) and O(driver) are not used with it.
      - Never shown in any output, since it may hold a password.
    type: str
  connect_params:
    description:
      - Further keywords for the ODBC connection string built from the separate options, for what they do not
        cover, for example C(MultiSubnetFailover=yes) for an availability group listener, C(ApplicationIntent) or
        C(HostNameInCertificate).
      - Each value is quoted as O(password) is; V(true) and V(false) become C(yes) and C(no).
      - A keyword that an option sets (C(DRIVER), C(SERVER), C(PORT), C(DATABASE), C(UID), C(PWD), C(Encrypt),
        C(TrustServerCertificate), C(APP) and the like) is refused.
      - Not used with O(connection_string), which holds its keywords itself.
    type: dict
    default: {}
  schema:
    description:
      - Schema of Generate's application tables.
      - Must be a plain identifier (letters, digits, underscores); it is quoted as C("schema") in every statement.
    type: str
    default: App
requirements:
  - pyodbc (Python library), which needs unixODBC
  - an ODBC driver for SQL Server, such as Microsoft ODBC Driver 18 for SQL Server
notes:
  - The connection sets the application name C(ceds.generate) where the driver supports it, so the module's
    sessions are easy to find in C(sys.dm_exec_sessions).
  - Connection options can be set once for a play with C(module_defaults) and the action group
    C(group/ceds.generate.database).
"""
